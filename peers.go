package p2ppool

import "time"

// PeerState is where a peer stands (octez P2p_peer_state).
type PeerState uint8

// Peer states.
const (
	// PeerDisconnected: known, no connection.
	PeerDisconnected PeerState = iota
	// PeerAccepted: the handshake passed our checks; acks are being
	// exchanged.
	PeerAccepted
	// PeerRunning: connected.
	PeerRunning
)

func (s PeerState) String() string {
	switch s {
	case PeerDisconnected:
		return "disconnected"
	case PeerAccepted:
		return "accepted"
	case PeerRunning:
		return "running"
	}
	return "unknown"
}

// peerInfo is the pool's record of a peer. Guarded by Pool.mu.
type peerInfo[PeerMeta any] struct {
	id      PeerID
	state   PeerState
	trusted bool
	meta    PeerMeta
	created time.Time
}

// registerPeerLocked returns the record of id, creating it if new.
// p.mu must be held.
func (p *Pool[Msg, PeerMeta, ConnMeta]) registerPeerLocked(id PeerID) *peerInfo[PeerMeta] {
	if pi := p.peers[id]; pi != nil {
		return pi
	}
	pi := &peerInfo[PeerMeta]{id: id, meta: p.peerMeta.Initial(), created: time.Now()}
	p.peers[id] = pi
	return pi
}
