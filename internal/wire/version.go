package wire

// NetworkVersion is octez Network_version.t, announced in the connection
// message: the chain name must match byte for byte, and each side
// negotiates the two version numbers from its own supported lists.
type NetworkVersion struct {
	// ChainName is the chain's name, e.g. "TEZOS_MAINNET". octez treats it
	// as raw bytes (data-encoding string), with no bound of its own; the
	// connection frame bounds it.
	ChainName string
	// DistributedDB is the distributed_db_version (u16).
	DistributedDB uint16
	// P2P is the p2p_version (u16).
	P2P uint16
}

// Append appends the binary encoding: chain_name as a u32-prefixed string,
// then the two u16 versions.
func (v NetworkVersion) Append(dst []byte) []byte {
	dst = AppendString(dst, v.ChainName)
	dst = AppendUint16(dst, v.DistributedDB)
	return AppendUint16(dst, v.P2P)
}

// Size returns the length of v's encoding.
func (v NetworkVersion) Size() int { return 4 + len(v.ChainName) + 2 + 2 }

// ReadNetworkVersion reads a NetworkVersion whose chain name is at most
// maxChainName bytes (see Reader.Bytes for the failure rules), labelling the
// fields so a failure names the one that broke.
func ReadNetworkVersion(r *Reader, maxChainName int) NetworkVersion {
	var v NetworkVersion
	r.Field("chain_name")
	v.ChainName = r.String(maxChainName)
	r.Field("distributed_db_version")
	v.DistributedDB = r.Uint16()
	r.Field("p2p_version")
	v.P2P = r.Uint16()
	return v
}
