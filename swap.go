package p2ppool

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// Swap (octez P2p_protocol): a node asks a peer to swap one of its
// connections for one of ours, so that the network keeps mixing.

// swapper runs the swaps: the requests the maintenance sends, the
// requests and acks peers send (on their connection's reader), and the
// dials they lead to, on pool goroutines. Its times, like each conn's
// lastSwapRequest, are guarded by the pool lock (locks.go): a request is
// weighed against the registry and the tables in one critical section.
type swapper struct {
	// Immutable after core.wire.
	mu     *poolMutex
	cfg    *Config
	life   *lifecycle
	tab    *tables
	reg    *registry
	dial   *dialer
	events *eventHub
	// attempt dials a point the dialer gave a slot to (core.attempt).
	attempt func(ctx context.Context, point netip.AddrPort) (*conn, error)

	// Guarded by mu: the times of the last swap started and the last one
	// that succeeded (octez, for swap_linger).
	latestAccepted, latestSuccessful time.Time
}

// swapRequest is what a connection last proposed in a Swap_request.
type swapRequest struct {
	at       time.Time
	proposed PeerID
}

func without[T comparable](s []T, x T) []T {
	out := s[:0:0]
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// swapAckTimeout is how long a Swap_request of ours waits for its
// Swap_ack: an honest peer answers at once (octez sends the ack before it
// dials), so a later ack answers nothing and is ignored.
const swapAckTimeout = 10 * time.Second

// sendRequest is Pool.SendSwapRequest.
func (s *swapper) sendRequest() error {
	s.mu.Lock()
	var recipients, proposals []*conn
	for _, c := range s.reg.conns {
		if c.info.PrivateNode {
			continue
		}
		recipients = append(recipients, c)
		if c.info.Point.IsValid() {
			proposals = append(proposals, c)
		}
	}
	if len(recipients) == 0 {
		s.mu.Unlock()
		return ErrNoSwapCandidates
	}
	recipient := recipients[rand.IntN(len(recipients))]
	proposals = without(proposals, recipient)
	if len(proposals) == 0 {
		s.mu.Unlock()
		return ErrNoSwapCandidates
	}
	proposal := proposals[rand.IntN(len(proposals))]
	recipient.lastSwapRequest = swapRequest{at: time.Now(), proposed: proposal.info.Peer}
	// Published before the request leaves, so that it comes before
	// whatever the answer causes (octez logs it whether or not the write
	// was dropped).
	s.events.publish(Event{Kind: EventSwapRequestSent, Peer: recipient.info.Peer})
	s.mu.Unlock()
	m := wire.Message{Tag: wire.TagSwapRequest, Point: proposal.info.Point, PeerID: proposal.info.Peer}
	return recipient.pushNow(outItem{b: m.Append(nil)})
}

// onRequest handles a peer's Swap_request(point): unless a swap
// happened less than SwapLinger ago or point is already known and busy,
// answer Swap_ack with another of our peers, connect to point, and on
// success drop the connection to the peer we offered. point is learned
// from the peer: it must pass the scope rule, find room in the table and
// a slot and a token of the dial limiter (the learned budget), or the
// request is ignored.
func (s *swapper) onRequest(source *conn, point netip.AddrPort) {
	s.events.publish(Event{Kind: EventSwapRequestReceived, Peer: source.info.Peer})
	if s.cfg.Maintenance.SwapLinger == Disabled {
		return
	}
	now := time.Now()
	point = wire.NormalizePoint(point)
	s.mu.Lock()
	last := s.latestAccepted
	if s.latestSuccessful.After(last) {
		last = s.latestSuccessful
	}
	if pi := s.tab.points[point]; now.Sub(last) < s.cfg.Maintenance.SwapLinger || pi != nil && pi.State != PointDisconnected || s.reg.conns[source.info.Peer] != source {
		s.mu.Unlock()
		s.events.publish(Event{Kind: EventSwapRequestIgnored, Peer: source.info.Peer})
		return
	}
	var cands []*conn
	for _, c := range s.reg.conns {
		if c != source && !c.info.PrivateNode && c.info.Point.IsValid() {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		s.mu.Unlock()
		return
	}
	if !s.takeDialLocked(source, point, now) {
		s.mu.Unlock()
		s.events.publish(Event{Kind: EventSwapRequestIgnored, Peer: source.info.Peer})
		return
	}
	// The linger starts now, before the lock is released: two requests
	// arriving together on two connections cannot both pass it.
	s.latestAccepted = now
	offered := cands[rand.IntN(len(cands))]
	s.mu.Unlock()
	ack := wire.Message{Tag: wire.TagSwapAck, Point: offered.info.Point, PeerID: offered.info.Peer}
	if source.pushNow(outItem{b: ack.Append(nil)}) != nil {
		s.dial.abandon(point)
		return
	}
	s.events.publish(Event{Kind: EventSwapAckSent, Peer: source.info.Peer})
	s.swap(source.info.Peer, point, offered.info.Peer)
}

// takeDialLocked learns point from source and, if the pool may dial
// it, takes a slot of the dial limiter for it, with a token of the
// learned budget, and marks it requested; it reports whether the swap may
// dial. s.mu must be held.
func (s *swapper) takeDialLocked(source *conn, point netip.AddrPort, now time.Time) bool {
	s.mu.assertHeld()
	return s.tab.learnPointLocked(point, source.remoteAddr) != nil && s.dial.tryTakeLocked(point, now)
}

// onAck handles the answer to our Swap_request: connect to the point
// offered and, on success, drop the peer we proposed. Only the first ack
// to a request of ours, within swapAckTimeout, is the answer (octez
// honours any ack on a connection it ever sent a request on, spec §12
// quirk 7): others are counted and ignored, so that a peer cannot make the
// pool dial by sending acks.
func (s *swapper) onAck(source *conn, point netip.AddrPort) {
	s.events.publish(Event{Kind: EventSwapAckReceived, Peer: source.info.Peer})
	if s.cfg.Maintenance.SwapLinger == Disabled {
		return
	}
	now := time.Now()
	point = wire.NormalizePoint(point)
	s.mu.Lock()
	req := source.lastSwapRequest
	source.lastSwapRequest = swapRequest{} // answered, at most once
	if req.at.IsZero() || now.Sub(req.at) > swapAckTimeout || s.reg.conns[source.info.Peer] != source {
		s.mu.Unlock()
		s.dial.acksIgnored.Add(1)
		source.log.Debug("Swap_ack ignored: it answers no request of ours")
		return
	}
	pi := s.tab.points[point]
	busy := pi != nil && pi.State != PointDisconnected
	if busy || !s.takeDialLocked(source, point, now) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.swap(source.info.Peer, point, req.proposed)
}

// swap connects to point on a pool goroutine (octez awaits it in the
// connection's worker, stalling its reads; here the reader goes on) and,
// on success, ends the connection to drop. The caller took the dial
// (tryTakeDialLocked). The swap linger starts now and holds whatever the
// outcome: octez puts the previous time back after a failure, so a peer
// naming dead points could make it dial at every request.
func (s *swapper) swap(source PeerID, point netip.AddrPort, drop PeerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg.closed {
		s.dial.abandonLocked(point)
		return
	}
	s.latestAccepted = time.Now()
	s.life.goLocked(poolGoroutine{}, func() {
		_, err := s.attempt(s.life.ctx, point)
		if err != nil {
			s.events.publish(Event{Kind: EventSwapFailure, Peer: source, Point: point, Err: err})
			return
		}
		s.mu.Lock()
		s.latestSuccessful = time.Now()
		victim := s.reg.conns[drop]
		s.mu.Unlock()
		s.events.publish(Event{Kind: EventSwapSuccess, Peer: source, Point: point})
		if victim != nil {
			victim.end(&DisconnectError{Reason: ReasonSwapped}, false)
		}
	})
}
