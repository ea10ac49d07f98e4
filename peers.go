package p2ppool

import (
	"fmt"

	"github.com/p2ppool/p2ppool/internal/peersfile"
	"iter"
	"net/netip"
	"slices"
	"time"
)

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

// PointAt is a point and a time: where a peer was when something
// happened. Point is invalid when the peer announced no listening port.
type PointAt struct {
	Point netip.AddrPort
	Time  time.Time
}

// PeerEventKind is the kind of a peer's history entry (octez
// P2p_peer.Pool_event); String gives the name used in peers.json.
type PeerEventKind uint8

// Peer event kinds.
const (
	PeerEventIncomingRequest PeerEventKind = iota + 1
	PeerEventRejectingRequest
	PeerEventRequestRejected
	PeerEventConnectionEstablished
	PeerEventDisconnection
	PeerEventExternalDisconnection
)

var peerEventNames = [...]string{"", "incoming_request", "rejecting_request", "request_rejected",
	"connection_established", "disconnection", "external_disconnection"}

func (k PeerEventKind) String() string {
	if int(k) < len(peerEventNames) && peerEventNames[k] != "" {
		return peerEventNames[k]
	}
	return fmt.Sprintf("peer_event(%d)", uint8(k))
}

// PeerEvent is an entry of a peer's history.
type PeerEvent struct {
	Kind  PeerEventKind
	Time  time.Time
	Point netip.AddrPort
}

// PeerInfo is a snapshot of what the pool knows of a peer (octez
// P2p_peer_state.Info).
type PeerInfo[PeerMeta any] struct {
	Peer    PeerID
	Created time.Time
	State   PeerState
	// Point is the peer's point while it is accepted or running.
	Point   netip.AddrPort
	Trusted bool
	Meta    PeerMeta
	// Score is PeerMetaConfig.Score of Meta: the lowest are forgotten
	// first when the table is full.
	Score                     float64
	LastFailedConnection      PointAt
	LastRejectedConnection    PointAt
	LastEstablishedConnection PointAt
	LastDisconnection         PointAt
}

// LastSeen is the most recent of the last established, rejected and ended
// connections (octez last_seen).
func (pi *PeerInfo[PeerMeta]) LastSeen() PointAt {
	return mostRecentAt(pi.LastEstablishedConnection, mostRecentAt(pi.LastRejectedConnection, pi.LastDisconnection))
}

// LastMiss is the most recent failure, rejection or disconnection (octez
// last_miss).
func (pi *PeerInfo[PeerMeta]) LastMiss() PointAt {
	return mostRecentAt(pi.LastFailedConnection, mostRecentAt(pi.LastRejectedConnection, pi.LastDisconnection))
}

func mostRecentAt(a, b PointAt) PointAt {
	if b.Time.After(a.Time) {
		return b
	}
	return a
}

// peerInfo is the pool's record of a peer. Guarded by the pool lock.
type peerInfo struct {
	PeerInfo[any] // Score is PeerMetaConfig.Score(Meta), kept with Meta
	events        ring[PeerEvent]
	// unknown keeps the fields of its peers.json record this version does
	// not know, so a save does not lose them.
	unknown []peersfile.Field
	// budgets are the token buckets its last connection left (control.go).
	budgets *savedBudgets
}

// scoredMeta is peer metadata with its score.
type scoredMeta struct {
	meta  any
	score float64
}

// peerMetaHooks is PeerMetaConfig seen by the core: metadata as any.
type peerMetaHooks struct {
	initial   func() any
	score     func(any) float64
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte) (any, error)
}

// Peers is the view of the pool's known peers (octez P2p_pool.Peers):
// their state, metadata, score, trust and bans. Get it from Pool.Peers;
// it is a handle, cheap to copy, safe for concurrent use.
type Peers[PeerMeta any] struct{ p *core }

// typedPeerInfo converts the core's record of a peer to the typed
// snapshot.
func typedPeerInfo[PeerMeta any](pi PeerInfo[any]) PeerInfo[PeerMeta] {
	m := metaAs[PeerMeta](pi.Meta, "peer metadata")
	return PeerInfo[PeerMeta]{
		Peer: pi.Peer, Created: pi.Created, State: pi.State, Point: pi.Point,
		Trusted: pi.Trusted, Meta: m, Score: pi.Score,
		LastFailedConnection:      pi.LastFailedConnection,
		LastRejectedConnection:    pi.LastRejectedConnection,
		LastEstablishedConnection: pi.LastEstablishedConnection,
		LastDisconnection:         pi.LastDisconnection,
	}
}

// Transitions of octez's peer state machine. The pool lock must be held for all.

func (pi *peerInfo) setAccepted(pt netip.AddrPort, now time.Time) {
	pi.State, pi.Point = PeerAccepted, pt
	pi.events.add(PeerEvent{Kind: PeerEventIncomingRequest, Time: now, Point: pt})
}

func (pi *peerInfo) setRunning(pt netip.AddrPort, now time.Time) {
	pi.State, pi.Point = PeerRunning, pt
	pi.LastEstablishedConnection = PointAt{pt, now}
	pi.events.add(PeerEvent{Kind: PeerEventConnectionEstablished, Time: now, Point: pt})
}

func (pi *peerInfo) setDisconnected(now time.Time) {
	switch pi.State {
	case PeerAccepted:
		pi.LastRejectedConnection = PointAt{pi.Point, now}
		pi.events.add(PeerEvent{Kind: PeerEventRequestRejected, Time: now, Point: pi.Point})
	case PeerRunning:
		pi.LastDisconnection = PointAt{pi.Point, now}
		pi.events.add(PeerEvent{Kind: PeerEventExternalDisconnection, Time: now, Point: pi.Point})
	}
	pi.State, pi.Point = PeerDisconnected, netip.AddrPort{}
}

func peersSnapshot[PeerMeta any](p *core, match func(*peerInfo) bool) iter.Seq2[PeerID, PeerInfo[PeerMeta]] {
	p.mu.Lock()
	snap := make([]PeerInfo[any], 0, len(p.tab.peers))
	for _, pi := range p.tab.peers {
		if match(pi) {
			snap = append(snap, pi.PeerInfo)
		}
	}
	p.mu.Unlock()
	slices.SortFunc(snap, func(a, b PeerInfo[any]) int { return slices.Compare(a.Peer[:], b.Peer[:]) })
	return func(yield func(PeerID, PeerInfo[PeerMeta]) bool) {
		for _, pi := range snap {
			if !yield(pi.Peer, typedPeerInfo[PeerMeta](pi)) {
				return
			}
		}
	}
}

// All iterates over a snapshot of the known peers, in id order.
func (v Peers[PeerMeta]) All() iter.Seq2[PeerID, PeerInfo[PeerMeta]] {
	p := v.p
	return peersSnapshot[PeerMeta](p, func(*peerInfo) bool { return true })
}

// Connected iterates over a snapshot of the peers with a running
// connection.
func (v Peers[PeerMeta]) Connected() iter.Seq2[PeerID, PeerInfo[PeerMeta]] {
	p := v.p
	return peersSnapshot[PeerMeta](p, func(pi *peerInfo) bool { return pi.State == PeerRunning })
}

// Info returns what the pool knows of id (octez Peers.info).
func (v Peers[PeerMeta]) Info(id PeerID) (PeerInfo[PeerMeta], bool) {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	pi := p.tab.peers[id]
	if pi == nil {
		return PeerInfo[PeerMeta]{}, false
	}
	return typedPeerInfo[PeerMeta](pi.PeerInfo), true
}

// Events returns the history of id, oldest first (at most
// Config.Tables.PeerIDsHistorySize entries).
func (v Peers[PeerMeta]) Events(id PeerID) []PeerEvent {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pi := p.tab.peers[id]; pi != nil {
		return pi.events.list()
	}
	return nil
}

// Meta returns the metadata of id; for an unknown peer, the initial
// metadata, without registering it (octez get_peer_metadata).
func (v Peers[PeerMeta]) Meta(id PeerID) PeerMeta {
	p := v.p
	p.mu.Lock()
	pi := p.tab.peers[id]
	var meta any
	if pi != nil {
		meta = pi.Meta
	}
	p.mu.Unlock()
	if pi == nil {
		meta = p.tab.peerMeta.initial()
	}
	return metaAs[PeerMeta](meta, "peer metadata")
}

// SetMeta sets the metadata of id, registering the peer first (octez
// set_peer_metadata).
func (v Peers[PeerMeta]) SetMeta(id PeerID, meta PeerMeta) error {
	p := v.p
	set := scoredMeta{meta, p.tab.peerMeta.score(meta)}
	init := p.tab.fresh()
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	pi := p.tab.registerPeerLocked(id, init)
	pi.Meta, pi.Score = set.meta, set.score
	return nil
}

// Trust marks id trusted, registering it and lifting any ban or
// greylisting (octez Peers.trust). Trusted peers may connect in a closed
// network, are never forgotten, and are not greylisted automatically.
func (v Peers[PeerMeta]) Trust(id PeerID) error {
	p := v.p
	init := p.tab.fresh()
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.acl.unbanPeer(id)
	p.tab.registerPeerLocked(id, init).Trusted = true
	return nil
}

// Untrust removes the trust of id, if it is known.
func (v Peers[PeerMeta]) Untrust(id PeerID) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	if pi := p.tab.peers[id]; pi != nil {
		pi.Trusted = false
	}
	return nil
}

// Ban bans peer until Unban or ACL.Clear and ends its connection
// (octez Peers.ban).
func (v Peers[PeerMeta]) Ban(peer PeerID) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	p.acl.bannedPeers.Add(peer)
	c := p.reg.conns[peer]
	p.mu.Unlock()
	if c != nil {
		c.end(&DisconnectError{Reason: ReasonBanned}, false)
	}
	return nil
}

// Unban lifts the ban and greylisting of peer (octez Peers.unban).
func (v Peers[PeerMeta]) Unban(peer PeerID) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.acl.unbanPeer(peer)
	return nil
}

// Banned reports whether peer is refused: banned or greylisted.
func (v Peers[PeerMeta]) Banned(peer PeerID) bool {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acl.bannedPeer(peer)
}

// Score returns the score of id, PeerMetaConfig.Score of its metadata,
// and whether id is known. For an unknown peer it is the score of the
// initial metadata, as octez's get_score scores get_peer_metadata, which
// falls back on peer_meta_initial (src/lib_p2p/p2p_pool.ml:355-361); the
// peer is not registered.
func (v Peers[PeerMeta]) Score(id PeerID) (float64, bool) {
	p := v.p
	p.mu.Lock()
	pi := p.tab.peers[id]
	var score float64
	if pi != nil {
		score = pi.Score
	}
	p.mu.Unlock()
	if pi == nil {
		// The application's code runs outside the pool's lock.
		return p.tab.fresh().score, false
	}
	return score, true
}

// Forget removes id from the known peers, its metadata and history with
// it; forgetting an unknown peer does nothing. A peer being accepted or
// connected is kept, and ErrInUse returned: end its connection first. A
// trusted peer is forgotten with its trust. Bans and greylisting are the
// ACL's and stay.
func (v Peers[PeerMeta]) Forget(id PeerID) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	pi := p.tab.peers[id]
	if pi != nil && pi.State != PeerDisconnected {
		return fmt.Errorf("%w: peer %v is %v", ErrInUse, id, pi.State)
	}
	delete(p.tab.peers, id)
	return nil
}

// Save writes the known peers to Config.PeersFile.Path now, atomically
// (temporary file, fsync, rename): a crash leaves the old file or the new
// one, never a mix. The pool also saves at Shutdown and every
// Config.PeersFile.SavePeriod. Without a peers file it does nothing.
// Called from PeerMetaConfig.MarshalJSON during a save, it returns
// ErrReentrant.
func (v Peers[PeerMeta]) Save() error {
	p := v.p
	if p.life.isClosed() {
		return ErrPoolClosed
	}
	return p.peersFile.save()
}
