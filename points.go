package p2ppool

import (
	"fmt"
	"iter"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// PointState is where a point stands (octez P2p_point_state).
type PointState uint8

// Point states.
const (
	// PointDisconnected: known, no connection.
	PointDisconnected PointState = iota
	// PointRequested: we are dialling it.
	PointRequested
	// PointAccepted: the handshake passed our checks; acks are being
	// exchanged.
	PointAccepted
	// PointRunning: connected.
	PointRunning
)

func (s PointState) String() string {
	switch s {
	case PointDisconnected:
		return "disconnected"
	case PointRequested:
		return "requested"
	case PointAccepted:
		return "accepted"
	case PointRunning:
		return "running"
	}
	return "unknown"
}

// PeerAt is a peer and a time: who was behind a point when something
// happened.
type PeerAt struct {
	Peer PeerID
	Time time.Time
}

// PointEventKind is the kind of a point's history entry (octez
// P2p_point.Pool_event).
type PointEventKind uint8

// Point event kinds.
const (
	PointEventOutgoingRequest PointEventKind = iota + 1
	PointEventAcceptingRequest
	PointEventRejectingRequest
	PointEventRequestRejected
	PointEventConnectionEstablished
	PointEventDisconnection
	PointEventExternalDisconnection
)

var pointEventNames = [...]string{"", "outgoing_request", "accepting_request", "rejecting_request", "request_rejected",
	"connection_established", "disconnection", "external_disconnection"}

func (k PointEventKind) String() string {
	if int(k) < len(pointEventNames) && pointEventNames[k] != "" {
		return pointEventNames[k]
	}
	return fmt.Sprintf("point_event(%d)", uint8(k))
}

// PointEvent is an entry of a point's history.
type PointEvent struct {
	Kind PointEventKind
	Time time.Time
	// Peer, when known.
	Peer PeerID
}

// PointInfo is a snapshot of what the pool knows of a point (octez
// P2p_point_state.Info).
type PointInfo struct {
	Point netip.AddrPort
	State PointState
	// Peer is the peer behind the point while it is accepted or running.
	Peer    PeerID
	Trusted bool
	// KnownPublic: a peer reached at this point said it is not private,
	// so the point may be advertised.
	KnownPublic bool
	// ExpectedPeer, when not zero, is the only peer the pool accepts at
	// this point.
	ExpectedPeer PeerID
	// LastFailedConnection is the last dial or handshake that failed
	// before admission; the others record the peer too.
	LastFailedConnection      time.Time
	LastRejectedConnection    PeerAt
	LastEstablishedConnection PeerAt
	LastDisconnection         PeerAt
	// ReconnectionDelay is the back-off the next failure will impose, and
	// ReconnectAfter the time before which the maintenance will not dial
	// the point (octez reconnection_info; the RPC calls it
	// greylisted_until). Zero when none.
	ReconnectionDelay time.Duration
	ReconnectAfter    time.Time
	// Learned: the pool learned the point from a peer (an Advertise, a
	// nack's alternatives, a swap, the point a peer dialled in from), and
	// the application has not given it since (Connect, Register, Trust,
	// SetExpectedPeerID). The pool dials learned points within
	// Config.Dial.Learned, and only those in a scope the peer that named
	// them may name (DialConfig.AllowNonRoutable).
	Learned bool
}

// LastSeen is the most recent of the last rejected, established and ended
// connections (octez last_seen).
func (pi *PointInfo) LastSeen() PeerAt {
	return mostRecent(pi.LastRejectedConnection, mostRecent(pi.LastEstablishedConnection, pi.LastDisconnection))
}

// LastMiss is the most recent failure, rejection or disconnection (octez
// last_miss).
func (pi *PointInfo) LastMiss() time.Time {
	t := mostRecent(pi.LastRejectedConnection, pi.LastDisconnection).Time
	if pi.LastFailedConnection.After(t) {
		return pi.LastFailedConnection
	}
	return t
}

// CanReconnect reports whether the back-off allows a new dial at now.
func (pi *PointInfo) CanReconnect(now time.Time) bool {
	return pi.ReconnectAfter.IsZero() || now.After(pi.ReconnectAfter)
}

// mostRecent is octez's most_recent: the later of two, the first on a tie.
func mostRecent(a, b PeerAt) PeerAt {
	if b.Time.After(a.Time) {
		return b
	}
	return a
}

// ReconnectionConfig is octez's back-off for failed points
// (p2p.greylisting_config). Zero fields mean octez's defaults.
type ReconnectionConfig struct {
	// Factor multiplies the delay after each failure. If zero, 1.2.
	Factor float64
	// InitialDelay is the first delay. If zero, 1 s.
	InitialDelay time.Duration
	// DisconnectionDelay is the pause after a connection ends. If zero,
	// 60 s.
	DisconnectionDelay time.Duration
	// IncreaseCap caps the delay. If zero, 48 h.
	IncreaseCap time.Duration
}

func (r ReconnectionConfig) withDefaults() ReconnectionConfig {
	if r.Factor == 0 {
		r.Factor = 1.2
	}
	if r.InitialDelay == 0 {
		r.InitialDelay = time.Second
	}
	if r.DisconnectionDelay == 0 {
		r.DisconnectionDelay = time.Minute
	}
	if r.IncreaseCap == 0 {
		r.IncreaseCap = 48 * time.Hour
	}
	return r
}

func (r ReconnectionConfig) validate(bad func(format string, args ...any)) {
	if r.Factor < 0 || r.Factor != r.Factor {
		bad("Reconnection.Factor %v is negative", r.Factor)
	}
	nonNegative(bad, "Reconnection.InitialDelay", r.InitialDelay)
	nonNegative(bad, "Reconnection.DisconnectionDelay", r.DisconnectionDelay)
	nonNegative(bad, "Reconnection.IncreaseCap", r.IncreaseCap)
}

// Points is the view of the pool's known points (octez
// P2p_pool.Points): their state, trust, expected peer id and history.
// Get it from Pool.Points; it is a handle, cheap to copy, safe for
// concurrent use.
type Points struct{ p *core }

// pointInfo is the pool's record of a point. Guarded by the pool lock.
type pointInfo struct {
	PointInfo
	events ring[PointEvent]
	// namer is the scope of the address of the peer a learned point was
	// learned from: the pool dials the point only if that peer may name
	// it (dialableLocked).
	namer addrScope
}

// maxAdvertised is how many points octez puts in an Advertise or a nack.
const maxAdvertised = 50

// Transitions of octez's point state machine. The pool lock must be held for all.

// expectsOther reports whether the point expects a peer other than
// peer (Points().SetExpectedPeerID): admission refuses peer there.
func (pi *pointInfo) expectsOther(peer PeerID) bool {
	return !pi.ExpectedPeer.IsZero() && pi.ExpectedPeer != peer
}

// busy reports whether the point has a connection accepted or running,
// or, for an incoming one, a dial of ours under way: admission refuses
// another as already connected.
func (pi *pointInfo) busy(incoming bool) bool {
	return pi.State == PointAccepted || pi.State == PointRunning || pi.State == PointRequested && incoming
}

func (pi *pointInfo) setRequested(now time.Time) {
	pi.State = PointRequested
	pi.events.add(PointEvent{Kind: PointEventOutgoingRequest, Time: now})
}

func (pi *pointInfo) setAccepted(peer PeerID, now time.Time) {
	pi.State, pi.Peer = PointAccepted, peer
	pi.events.add(PointEvent{Kind: PointEventAcceptingRequest, Time: now, Peer: peer})
}

func (pi *pointInfo) setRunning(peer PeerID, now time.Time) {
	pi.State, pi.Peer = PointRunning, peer
	pi.LastEstablishedConnection = PeerAt{peer, now}
	pi.events.add(PointEvent{Kind: PointEventConnectionEstablished, Time: now, Peer: peer})
}

// setDisconnected ends whatever the point was doing. A failed attempt
// (requested or accepted) backs off by octez's rule; the end of a running
// connection imposes the flat disconnection delay and resets the back-off.
func (pi *pointInfo) setDisconnected(rc *ReconnectionConfig, now time.Time) {
	switch pi.State {
	case PointRequested, PointAccepted:
		d := pi.ReconnectionDelay
		if d == 0 {
			d = rc.InitialDelay
		}
		pi.ReconnectAfter = now.Add(d)
		pi.ReconnectionDelay = min(time.Duration(float64(d)*rc.Factor), rc.IncreaseCap)
		if pi.State == PointRequested {
			pi.LastFailedConnection = now
			pi.events.add(PointEvent{Kind: PointEventRequestRejected, Time: now})
		} else {
			pi.LastRejectedConnection = PeerAt{pi.Peer, now}
			pi.events.add(PointEvent{Kind: PointEventRequestRejected, Time: now, Peer: pi.Peer})
		}
	case PointRunning:
		pi.ReconnectionDelay = rc.InitialDelay
		pi.ReconnectAfter = now.Add(rc.DisconnectionDelay)
		pi.LastDisconnection = PeerAt{pi.Peer, now}
		pi.events.add(PointEvent{Kind: PointEventExternalDisconnection, Time: now, Peer: pi.Peer})
	}
	pi.State, pi.Peer = PointDisconnected, PeerID{}
}

// All iterates over a snapshot of the known points, in address order.
func (v Points) All() iter.Seq2[netip.AddrPort, PointInfo] {
	p := v.p
	return p.tab.pointsSnapshot(func(*pointInfo) bool { return true })
}

// Connected iterates over a snapshot of the points with a running
// connection.
func (v Points) Connected() iter.Seq2[netip.AddrPort, PointInfo] {
	p := v.p
	return p.tab.pointsSnapshot(func(pi *pointInfo) bool { return pi.State == PointRunning })
}

// Info returns what the pool knows of pt (octez Points.info).
func (v Points) Info(pt netip.AddrPort) (PointInfo, bool) {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	pi := p.tab.points[wire.NormalizePoint(pt)]
	if pi == nil {
		return PointInfo{}, false
	}
	return pi.PointInfo, true
}

// Events returns the history of pt, oldest first (at most
// Config.Tables.PointsHistorySize entries).
func (v Points) Events(pt netip.AddrPort) []PointEvent {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pi := p.tab.points[wire.NormalizePoint(pt)]; pi != nil {
		return pi.events.list()
	}
	return nil
}

// Register makes pt known, so maintenance and Bootstrap answers can
// use it (octez register_point).
func (v Points) Register(pt netip.AddrPort) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.tab.registerPointLocked(pt).Learned = false
	return nil
}

// Trust marks pt trusted, registering it if needed, and lifts any ban
// or greylisting of its address (octez Points.trust). Trusted points are
// the only ones allowed in a closed network, are never forgotten, and are
// not greylisted automatically.
func (v Points) Trust(pt netip.AddrPort) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.acl.unbanAddr(pt.Addr())
	pi := p.tab.registerPointLocked(pt)
	pi.Trusted, pi.Learned = true, false
	return nil
}

// Untrust removes the trust of pt, if it is known.
func (v Points) Untrust(pt netip.AddrPort) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	if pi := p.tab.points[wire.NormalizePoint(pt)]; pi != nil {
		pi.Trusted = false
	}
	return nil
}

// SetExpectedPeerID makes peer the only peer accepted at pt, registering
// pt if needed (octez set_expected_peer_id, src/lib_p2p/p2p_pool.ml:119;
// octez does nothing for an unknown point). A running connection there
// with another peer is ended and its address greylisted; a handshake past
// admission with another peer greylists the address and goes on
// (p2p_pool.ml:131-139). The zero PeerID expects no one: it is
// ClearExpectedPeerID, which cuts and greylists nothing.
func (v Points) SetExpectedPeerID(pt netip.AddrPort, peer PeerID) error {
	if peer.IsZero() {
		return v.ClearExpectedPeerID(pt)
	}
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	pi := p.tab.registerPointLocked(pt)
	pi.ExpectedPeer, pi.Learned = peer, false
	var victim *conn
	if (pi.State == PointRunning || pi.State == PointAccepted) && pi.Peer != peer {
		p.acl.greylistAddrLocked(pi.Point.Addr(), time.Now())
		if pi.State == PointRunning {
			victim = p.reg.conns[pi.Peer]
		}
	}
	p.mu.Unlock()
	if victim != nil {
		victim.end(&DisconnectError{Reason: ReasonUnexpectedPeer}, false)
	}
	return nil
}

// ClearExpectedPeerID lets any peer be accepted at pt again, as before
// SetExpectedPeerID; it does nothing for an unknown point. It ends no
// connection and greylists nothing: whoever is connected at pt was
// acceptable under the old expectation and is under none. octez has no
// such call (P2p_point_state.Info's expected_peer_id is set to Some, never
// back to None: p2p_point_state.ml:243); its RPC PATCH /network/points
// leaves the expectation alone when given no peer id
// (p2p_directory.ml:284).
func (v Points) ClearExpectedPeerID(pt netip.AddrPort) error {
	p := v.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	if pi := p.tab.points[wire.NormalizePoint(pt)]; pi != nil {
		pi.ExpectedPeer = PeerID{}
	}
	return nil
}

// Forget removes pt from the known points, with its history; forgetting
// an unknown point does nothing. A point being dialled, accepted or
// connected is kept, and ErrInUse returned: end its connection first. A
// trusted point is forgotten with its trust (one of Config.Network.TrustedPoints
// comes back with the next New). Bans of its address are the ACL's and
// stay.
func (v Points) Forget(pt netip.AddrPort) error {
	p := v.p
	pt = wire.NormalizePoint(pt)
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	pi := p.tab.points[pt]
	if pi != nil && pi.State != PointDisconnected {
		return fmt.Errorf("%w: point %v is %v", ErrInUse, pt, pi.State)
	}
	delete(p.tab.points, pt)
	return nil
}
