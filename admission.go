package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// RefusalReason classifies why an incoming connection was refused, for
// the counters of Stats.
type RefusalReason uint8

// Refusal reasons.
const (
	RefusedTooManyIncoming RefusalReason = iota
	RefusedBanned                        // address or peer banned or greylisted
	RefusedUnexpectedPeer
	RefusedTooManyConnections
	RefusedAlreadyConnected
	RefusedNoCommonVersion
	RefusedPrivateMode
	RefusedMyself
	RefusedHandshakeFailed     // bad proof of work, decipher or decoding failure, peer gone
	RefusedByPeer              // the peer nacked our ack
	RefusedPendingPerAddr      // MaxPendingPerAddr handshakes already from this address
	RefusedPendingPerSubnet    // MaxPendingPerSubnet handshakes already from this subnet
	RefusedIncomingPerAddr     // MaxIncomingPerAddr connections already from this address
	RefusedIncomingPerSubnet   // MaxIncomingPerSubnet connections already from this subnet
	RefusedHandshakeEvicted    // its slot went to a newer socket (all slots busy)
	RefusedFirstMessageTimeout // no connection message within Timeouts.FirstMessage
	RefusedHandshakeTimeout    // the handshake outlasted Timeouts.Authentication
	numRefusals
)

var refusalNames = [numRefusals]string{"too many incoming", "banned", "unexpected peer", "too many connections", "already connected",
	"no common version", "private mode", "myself", "handshake failed", "rejected by peer",
	"too many pending from address", "too many pending from subnet", "too many from address", "too many from subnet",
	"handshake evicted", "first message timeout", "handshake timeout"}

func (r RefusalReason) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// admission decides who comes in (octez P2p_connect_handler's checks):
// the incoming caps per address and subnet, the pending handshakes and
// their slots, the stall scores, eviction when the pool is full, and the
// checks between a handshake's metadata and its ack. Guarded by the pool
// lock (locks.go): one decision reads and writes the tables and the
// registry with it, as octez decides in one critical section; every
// ...Locked method asserts it.
type admission struct {
	// Immutable after newCore.
	mu     *poolMutex
	cfg    *Config
	log    *slog.Logger
	groups netGroups
	// evictSeed keys the subnet hash that protects connections from
	// eviction, so that no peer can predict which are protected.
	evictSeed maphash.Seed
	tab       *tables
	reg       *registry
	acl       *acl
	events    *eventHub
	limits    *Limits // guarded by mu

	// Guarded by mu.
	// pending are the incoming handshakes in flight; fails the scores of
	// the addresses whose handshakes stall.
	pending pendingSet
	fails   failScores
}

// verdict is the outcome of the checks between metadata and ack.
type verdict struct {
	motive wire.NackMotive // nack with this motive when err is set and nack is true
	nack   bool
	err    error
	// evict, when the pool was full, is the connection whose slot the
	// newcomer takes: the caller ends it once the lock is released.
	evict *conn
}

// admitHandshakeLocked gives an incoming socket from addr a handshake
// slot, or says why not (see pendingSet.admit); victim, if not nil, is the
// handshake whose slot it took, to be evicted once the lock is released.
// The pool lock must be held.
func (a *admission) admitHandshakeLocked(addr netip.Addr, evict context.CancelCauseFunc, now time.Time) (h, victim *pendingHandshake, r RefusalReason, ok bool) {
	a.mu.assertHeld()
	return a.pending.admit(a.cfg, a.groups, addr, evict, now, &a.fails)
}

// handshakeDone gives back the slot of an incoming handshake that has
// ended, whatever the outcome.
func (a *admission) handshakeDone(h *pendingHandshake) {
	a.mu.Lock()
	a.pending.remove(h)
	a.mu.Unlock()
}

func refusalOf(err error) RefusalReason {
	switch {
	case errors.Is(err, ErrHandshakeEvicted):
		return RefusedHandshakeEvicted
	case errors.Is(err, ErrFirstMessageTimeout):
		return RefusedFirstMessageTimeout
	case errors.Is(err, ErrTimeout):
		return RefusedHandshakeTimeout
	case errors.Is(err, ErrTooManyFromAddress):
		return RefusedIncomingPerAddr
	case errors.Is(err, ErrTooManyFromSubnet):
		return RefusedIncomingPerSubnet
	case errors.Is(err, ErrTooManyConnections):
		return RefusedTooManyConnections
	case errors.Is(err, ErrAlreadyConnected):
		return RefusedAlreadyConnected
	case errors.Is(err, ErrNoCommonVersion):
		return RefusedNoCommonVersion
	case errors.Is(err, ErrPrivateMode):
		return RefusedPrivateMode
	case errors.Is(err, ErrMyself):
		return RefusedMyself
	case errors.Is(err, ErrRejected):
		return RefusedByPeer
	case errors.Is(err, ErrPeerBanned), errors.Is(err, ErrPointBanned):
		return RefusedBanned
	case errors.Is(err, ErrUnexpectedPeer):
		return RefusedUnexpectedPeer
	}
	return RefusedHandshakeFailed
}

// incomingShareLocked refuses a socket from addr when its address or its
// subnet already has its share of established incoming connections.
// a.mu must be held.
func (a *admission) incomingShareLocked(addr netip.Addr) (RefusalReason, error) {
	a.mu.assertHeld()
	if !a.groups.limited(addr) {
		return 0, nil
	}
	ak, sk := a.groups.addr(addr), a.groups.subnet(addr)
	var sameAddr, sameSubnet int
	for _, c := range a.reg.conns {
		if !c.info.Incoming || !c.remoteAddr.IsValid() {
			continue
		}
		if a.groups.addr(c.remoteAddr) == ak {
			sameAddr++
		}
		if a.groups.subnet(c.remoteAddr) == sk {
			sameSubnet++
		}
	}
	// Handshakes past admission, not yet running, hold their slot too.
	for _, h := range a.pending.all {
		if h.admitted {
			if h.addr == ak {
				sameAddr++
			}
			if h.subnet == sk {
				sameSubnet++
			}
		}
	}
	switch {
	case sameAddr >= a.cfg.Admission.MaxIncomingPerAddr:
		return RefusedIncomingPerAddr, ErrTooManyFromAddress
	case sameSubnet >= a.cfg.Admission.MaxIncomingPerSubnet:
		return RefusedIncomingPerSubnet, ErrTooManyFromSubnet
	}
	return 0, nil
}

// handshakeStalled counts an incoming handshake from addr that timed
// out, stalled or was evicted; enough of them greylist the address, as a
// bad proof of work does at once (octez never greylists for these).
func (a *admission) handshakeStalled(h *pendingHandshake, addr netip.Addr) {
	if !h.limited {
		return
	}
	a.mu.Lock()
	full := a.fails.add(h.addr, a.cfg.Admission.HandshakeFailureLimit, time.Now())
	a.mu.Unlock()
	if full {
		a.log.Debug("greylisting an address whose handshakes keep stalling", "addr", addr)
		a.acl.punish(addr, PeerID{})
	}
}

// admit runs octez's checks after authentication, in octez's order (spec
// §3.3: banned peer, point registration, expected peer id, peer
// registration, then acceptability: versions, slots, private mode, point
// and peer states) and, when they pass, marks peer and point accepted,
// holding a connection slot.
func (a *admission) admit(socketPoint netip.AddrPort, peer PeerID, idPoint, dialled netip.AddrPort, incoming, private bool, verr error, h *pendingHandshake, d *dialAttempt) verdict {
	now := time.Now()
	init := a.tab.fresh()
	a.mu.Lock()
	defer a.mu.Unlock()
	if d != nil {
		// From here on the attempt is a handshake past admission (counted
		// in accepted) or a refused one: no longer a dial in flight.
		d.admitted = true
		a.reg.dialing--
	}
	if a.reg.closed {
		return verdict{err: ErrPoolClosed}
	}
	if a.acl.bannedPeer(peer) {
		return verdict{err: ErrPeerBanned}
	}
	var pt *pointInfo
	if idPoint.IsValid() && !slices.Contains(a.tab.myPoints, idPoint) {
		if incoming {
			// The peer's own address and the port it announced: a point
			// learned from it, kept only if the table has room.
			pt = a.tab.learnPointLocked(idPoint, socketPoint.Addr())
		} else {
			pt = a.tab.registerPointLocked(idPoint)
		}
	}
	if pt != nil && pt.expectsOther(peer) {
		return verdict{err: fmt.Errorf("%w: %v at %v, expected %v", ErrUnexpectedPeer, peer, idPoint, pt.ExpectedPeer)}
	}
	pe := a.tab.registerPeerLocked(peer, init)
	if pt != nil {
		// octez records whether the point is public whatever the outcome.
		pt.KnownPublic = !private
	}
	full := a.fullLocked(0)
	var victim *conn
	if full && incoming {
		victim = a.evictionVictimLocked(socketPoint.Addr())
	}
	var ve *VersionError
	switch {
	case errors.As(verr, &ve):
		if !incoming && dialled.IsValid() {
			// A node of another network: octez forgets the point (spec
			// §3.3-12), unless the operator trusts it.
			if pi := a.tab.points[dialled]; pi != nil && !pi.Trusted {
				pi.setDisconnected(&a.cfg.Reconnection, now)
				delete(a.tab.points, dialled)
			}
		}
		return verdict{nack: true, motive: ve.Motive, err: ve}
	case full && victim == nil:
		return verdict{nack: true, motive: wire.TooManyConnections, err: ErrTooManyConnections}
	case a.cfg.Network.ClosedNetwork && !(pt != nil && pt.Trusted) && !pe.Trusted:
		return verdict{err: ErrPrivateMode}
	case pt != nil && pt.busy(incoming):
		return verdict{nack: true, motive: wire.AlreadyConnected, err: ErrAlreadyConnected}
	case pe.State != PeerDisconnected:
		return verdict{nack: true, motive: wire.AlreadyConnected, err: ErrAlreadyConnected}
	}
	if h != nil {
		// Checked again now that the handshake is over: the sockets from
		// the same address that passed Accept's check together must not
		// all get in.
		if _, err := a.incomingShareLocked(socketPoint.Addr()); err != nil {
			return verdict{nack: true, motive: wire.TooManyConnections, err: err}
		}
		h.admitted = true
	}
	if pt != nil {
		pt.setAccepted(peer, now)
	}
	pe.setAccepted(idPoint, now)
	a.reg.accepted++
	if victim != nil {
		victim.evicted = true
		a.reg.evicting++
	}
	a.events.publish(Event{Kind: EventAcceptingRequest, Point: socketPoint, IDPoint: idPoint, Peer: peer})
	return verdict{evict: victim}
}

// clearToAck reports whether admit, run now for peer at idPoint, would
// accept it without evicting anyone. The handshake then sends our ack
// with our metadata, one exchange earlier than octez (see
// socket.AuthConn.ExchangeMetadata), and admit itself still runs after
// the peer's metadata, as in octez: the peer has then proven that it
// holds its key, where its connection message, which anyone can replay,
// proves nothing. So clearToAck only reads: it changes no table, takes no
// slot and evicts no one. In the rare case where admit refuses what it
// let through (the state changed in between), the connection is closed
// instead of nacked. Every check that could refuse is admit's (the
// version's is the caller's); a ClosedNetwork pool never acks early.
func (a *admission) clearToAck(socketPoint netip.AddrPort, peer PeerID, idPoint netip.AddrPort, incoming bool, h *pendingHandshake, d *dialAttempt) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg.closed || a.cfg.Network.ClosedNetwork || a.acl.bannedPeer(peer) {
		return false
	}
	ownDial := 0
	if d != nil {
		ownDial = 1 // this dial's slot, which admit gives back before counting
	}
	if a.fullLocked(ownDial) {
		return false
	}
	if idPoint.IsValid() && !slices.Contains(a.tab.myPoints, idPoint) {
		if pt := a.tab.points[idPoint]; pt != nil && (pt.expectsOther(peer) || pt.busy(incoming)) {
			return false
		}
	}
	if pe := a.tab.peers[peer]; pe != nil && pe.State != PeerDisconnected {
		return false
	}
	if h != nil {
		if _, err := a.incomingShareLocked(socketPoint.Addr()); err != nil {
			return false
		}
	}
	return true
}

// evictionVictimLocked picks the established incoming connection to end
// so that a newcomer from addr can come in when the pool is full (see
// selectEviction), or nil. Trusted peers and points are never evicted.
// a.mu must be held.
func (a *admission) evictionVictimLocked(addr netip.Addr) *conn {
	a.mu.assertHeld()
	if !addr.IsValid() {
		return nil
	}
	var cands []evictCandidate
	for _, c := range a.reg.conns {
		if !c.info.Incoming || c.evicted || !c.remoteAddr.IsValid() || a.tab.trustedConnLocked(c) {
			continue
		}
		cands = append(cands, evictCandidate{
			id: c.info.ID, subnet: a.groups.subnet(c.remoteAddr),
			established: c.info.Established, lastUseful: c.lastUseful.Load(),
		})
	}
	id, ok := selectEviction(cands, a.groups.subnet(addr), a.evictSeed, time.Now().UnixNano())
	if !ok {
		return nil
	}
	for _, c := range a.reg.conns {
		if c.info.ID == id {
			return c
		}
	}
	return nil
}

// fullLocked reports whether the slots in use, less ownDial that admit
// gives back first and the evictions under way, reach thresholdLocked:
// a newcomer is then refused unless it evicts someone. a.mu must be held.
func (a *admission) fullLocked(ownDial int) bool {
	a.mu.assertHeld()
	return a.reg.slotsLocked()-ownDial-a.reg.evicting >= a.thresholdLocked()
}

// thresholdLocked is the count at which new connections are refused
// with Too_many_connections: octez's max threshold, max − (max −
// expected)/3 (84 by default), when the maintenance runs, else
// max_connections.
func (a *admission) thresholdLocked() int {
	a.mu.assertHeld()
	if maintains(a.cfg) {
		return boundsOf(a.limits).maxThreshold
	}
	return a.limits.MaxConnections
}

// unaccept undoes admit after a failed ack exchange: peer and point back
// off (octez Accepted -> Disconnected), and a nack's alternative points
// are learnt.
func (a *admission) unaccept(socketPoint netip.AddrPort, peer PeerID, idPoint netip.AddrPort, err error, h *pendingHandshake) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if h != nil {
		h.admitted = false
	}
	a.reg.accepted--
	if pe := a.tab.peers[peer]; pe != nil && pe.State == PeerAccepted {
		pe.setDisconnected(now)
	}
	if pt := a.tab.points[idPoint]; pt != nil && pt.State == PointAccepted && pt.Peer == peer {
		pt.setDisconnected(&a.cfg.Reconnection, now)
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		a.tab.registerNewPointsLocked(rej.Points, socketPoint.Addr())
	}
	a.events.publish(Event{Kind: EventRequestRejected, Point: socketPoint, IDPoint: idPoint, Peer: peer, Err: err})
}
