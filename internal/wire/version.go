package wire

import "github.com/p2ppool/p2ppool/dataenc"

// NetworkVersion is re-exported by the root package as a type alias: its
// doc speaks to users, and its encoding helpers are functions, not
// methods, so that they do not join the public API.

// NetworkVersion is the network version of a connection (octez
// Network_version.t): what each side announces in its connection message
// and, once both are known, what the connection speaks. The chain name
// must be byte-equal on both sides; each of the two version numbers is
// negotiated from the lists each side supports.
type NetworkVersion struct {
	// ChainName is the chain's name, e.g. "TEZOS_MAINNET" (octez
	// chain_name). It is compared as raw bytes; a name that does not fit
	// the connection message (longer than 65445 bytes) cannot be announced.
	ChainName string
	// DistributedDB is the application protocol version (octez
	// distributed_db_version).
	DistributedDB uint16
	// P2P is the version of the pool's own protocol (octez p2p_version);
	// version 1 added nacks with a motive and alternative points.
	P2P uint16
}

// AppendNetworkVersion appends v's binary encoding: chain_name as a
// u32-prefixed string, then the two u16 versions.
func AppendNetworkVersion(dst []byte, v NetworkVersion) []byte {
	dst = dataenc.AppendString(dst, v.ChainName)
	dst = dataenc.AppendUint16(dst, v.DistributedDB)
	return dataenc.AppendUint16(dst, v.P2P)
}

// NetworkVersionSize returns the length of v's encoding.
func NetworkVersionSize(v NetworkVersion) int { return 4 + len(v.ChainName) + 2 + 2 }

// ReadNetworkVersion reads a NetworkVersion whose chain name is at most
// maxChainName bytes (see Reader.Bytes for the failure rules), labelling the
// fields so a failure names the one that broke.
func ReadNetworkVersion(r *dataenc.Reader, maxChainName int) NetworkVersion {
	var v NetworkVersion
	r.Field("chain_name")
	v.ChainName = r.String(maxChainName)
	r.Field("distributed_db_version")
	v.DistributedDB = r.Uint16()
	r.Field("p2p_version")
	v.P2P = r.Uint16()
	return v
}
