package p2ppool

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
)

// registry is the running side of the pool: the established connections
// by peer, the handshakes past admission and the dials in flight that
// hold connection slots, the listeners, and whether the pool has closed
// to newcomers. Guarded by the pool lock (locks.go), which admission and
// the dialer hold while they count the slots and the tables change with
// them; nextID is atomic.
type registry struct {
	// Immutable after newCore.
	mu        *poolMutex
	outBudget *outBudget // broadcasts over smallMessage are charged to it

	// nextID numbers connections.
	nextID atomic.Uint64

	// Guarded by mu.
	// closed is set once Close or Shutdown has begun: nothing is
	// registered after it.
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[PeerID]*conn
	// accepted counts handshakes past admission, not yet running: they
	// hold a connection slot so concurrent handshakes cannot overshoot
	// the limit (octez quirk 9).
	accepted int
	// dialing counts the attempts past the dialer's requestableLocked
	// that admission has not looked at yet: with accepted, they hold
	// connection slots.
	dialing int
	// evicting counts the connections evicted for a newcomer and not yet
	// torn down, whose slots are already given away.
	evicting int
	// closedStat sums the traffic of connections that have ended.
	closedStat ConnStat
}

func newRegistry(mu *poolMutex, ob *outBudget) *registry {
	return &registry{mu: mu, outBudget: ob, listeners: make(map[net.Listener]struct{}), conns: make(map[PeerID]*conn)}
}

// slotsLocked counts the connection slots in use: running connections,
// handshakes past admission and dials in flight. The pool lock must be
// held.
func (r *registry) slotsLocked() int {
	r.mu.assertHeld()
	return len(r.conns) + r.accepted + r.dialing
}

// connectionsLocked returns the established connections, in no order.
// The pool lock must be held.
func (r *registry) connectionsLocked() []*conn {
	r.mu.assertHeld()
	out := make([]*conn, 0, len(r.conns))
	for _, c := range r.conns {
		out = append(out, c)
	}
	return out
}

// endedLocked takes c out of the registry once its run has returned, if
// it is still the connection registered for its peer, and adds its
// traffic to the totals; it reports whether it was registered. The pool
// lock must be held.
func (r *registry) endedLocked(c *conn) bool {
	r.mu.assertHeld()
	registered := r.conns[c.info.Peer] == c
	if registered {
		delete(r.conns, c.info.Peer)
		if c.evicted {
			r.evicting--
		}
	}
	// Keep the traffic of ended connections in the pool's totals.
	cs := c.stat()
	r.closedStat.MsgsSent += cs.MsgsSent
	r.closedStat.MsgsRecv += cs.MsgsRecv
	r.closedStat.BytesSent += cs.BytesSent
	r.closedStat.BytesRecv += cs.BytesRecv
	return registered
}

// connections returns the established connections, oldest first.
func (r *registry) connections() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*conn, 0, len(r.conns))
	for _, c := range r.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *conn) int { return cmp.Compare(a.info.ID, b.info.ID) })
	return out
}

// connsFromLocked lists the running connections whose peer is at addr.
// r.mu must be held.
func (r *registry) connsFromLocked(addr netip.Addr) []*conn {
	r.mu.assertHeld()
	addr = addr.Unmap()
	var out []*conn
	for _, c := range r.conns {
		if ap, ok := addrPortOf(c.info.RemoteAddr); ok && ap.Addr() == addr {
			out = append(out, c)
		}
	}
	return out
}

// broadcast queues the encoded message b on the connections to that
// match, never waiting. A message larger than smallMessage stays one
// copy, shared read-only by every writer and charged once to the
// outgoing budget until the last writer is done with it; if the budget
// has no room for it, it is dropped everywhere. A small one is copied
// into each queue's open arena, which is what it costs there anyway.
// queued, if not nil, is called for each connection the message was
// queued on (not under the pool's lock). It returns how many those were.
func (r *registry) broadcast(b []byte, to func(*conn) bool, queued func(*conn)) int {
	var sh *sharedOut
	if len(b) > smallMessage {
		var ok bool
		if sh, ok = newSharedOut(r.outBudget, len(b)); ok {
			defer sh.unref()
		}
	}
	n := 0
	for _, c := range r.connections() {
		if !to(c) {
			continue
		}
		if len(b) > smallMessage && sh == nil {
			c.countDrop(ErrOutgoingBudgetFull)
			continue
		}
		if sh != nil {
			sh.ref() // the queue's, released with the item
		}
		if c.pushNow(outItem{b: b, sh: sh}) == nil {
			n++
			if queued != nil {
				queued(c)
			}
		}
	}
	return n
}
