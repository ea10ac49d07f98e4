package socket

import (
	"slices"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// Versions is what the local side supports: its chain name and the
// distributed-db and p2p versions it can speak.
type Versions struct {
	ChainName     string
	DistributedDB []uint16
	P2P           []uint16
}

// Announced is the network version put in our connection message: the
// highest supported version of each list (octez announces the maximum).
func (v *Versions) Announced() wire.NetworkVersion {
	return wire.NetworkVersion{
		ChainName:     v.ChainName,
		DistributedDB: maxOr0(v.DistributedDB),
		P2P:           maxOr0(v.P2P),
	}
}

// Select negotiates the version of a connection from the remote's announced
// one, as octez P2p_connect_handler.may_select_version: the chain name must
// match; then for each of ddb and p2p, our best version is used if the
// remote announces at least that, else the remote's if we support it. A
// failure is a *VersionError whose motive is the one octez nacks with; when
// both ddb and p2p fail, the ddb motive wins, as in octez.
func (v *Versions) Select(remote wire.NetworkVersion) (wire.NetworkVersion, error) {
	if remote.ChainName != v.ChainName {
		return wire.NetworkVersion{}, &VersionError{Motive: wire.UnknownChainName, Remote: remote}
	}
	ddb, ok := selectOne(v.DistributedDB, remote.DistributedDB)
	if !ok {
		return wire.NetworkVersion{}, &VersionError{Motive: wire.DeprecatedDistributedDBVersion, Remote: remote}
	}
	p2p, ok := selectOne(v.P2P, remote.P2P)
	if !ok {
		return wire.NetworkVersion{}, &VersionError{Motive: wire.DeprecatedP2PVersion, Remote: remote}
	}
	return wire.NetworkVersion{ChainName: v.ChainName, DistributedDB: ddb, P2P: p2p}, nil
}

func selectOne(supported []uint16, remote uint16) (uint16, bool) {
	if len(supported) == 0 {
		return 0, false
	}
	if best := slices.Max(supported); best <= remote {
		return best, true
	}
	if slices.Contains(supported, remote) {
		return remote, true
	}
	return 0, false
}

func maxOr0(s []uint16) uint16 {
	if len(s) == 0 {
		return 0
	}
	return slices.Max(s)
}
