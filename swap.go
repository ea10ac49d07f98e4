package p2ppool

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// Swap (octez P2p_protocol): a node asks a peer to swap one of its
// connections for one of ours, so that the network keeps mixing. The
// state lives in core (latestAccepted, latestSuccessful, guarded by
// core.mu) and in each conn (lastSwapRequest, guarded by core.mu).

// swapRequest is what a connection last proposed in a Swap_request.
type swapRequest struct {
	at       time.Time
	proposed PeerID
}

// sendSwapRequest is Pool.SendSwapRequest.
func (p *core) sendSwapRequest() error {
	p.mu.Lock()
	var recipients, proposals []*conn
	for _, c := range p.conns {
		if c.info.PrivateNode {
			continue
		}
		recipients = append(recipients, c)
		if c.info.Point.IsValid() {
			proposals = append(proposals, c)
		}
	}
	if len(recipients) == 0 {
		p.mu.Unlock()
		return ErrNoSwapCandidates
	}
	recipient := recipients[rand.IntN(len(recipients))]
	proposals = without(proposals, recipient)
	if len(proposals) == 0 {
		p.mu.Unlock()
		return ErrNoSwapCandidates
	}
	proposal := proposals[rand.IntN(len(proposals))]
	recipient.lastSwapRequest = swapRequest{at: time.Now(), proposed: proposal.info.Peer}
	// Published before the request leaves, so that it comes before
	// whatever the answer causes (octez logs it whether or not the write
	// was dropped).
	p.publishLocked(Event{Kind: EventSwapRequestSent, Peer: recipient.info.Peer})
	p.mu.Unlock()
	m := wire.Message{Tag: wire.TagSwapRequest, Point: proposal.info.Point, PeerID: proposal.info.Peer}
	return recipient.pushNow(outItem{b: m.Append(nil)})
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

// onSwapRequest handles a peer's Swap_request(point): unless a swap
// happened less than SwapLinger ago or point is already known and busy,
// answer Swap_ack with another of our peers, connect to point, and on
// success drop the connection to the peer we offered. point is learned
// from the peer: it must pass the scope rule, find room in the table and
// a slot and a token of the dial limiter (the learned budget), or the
// request is ignored.
func (p *core) onSwapRequest(source *conn, point netip.AddrPort) {
	p.publish(Event{Kind: EventSwapRequestReceived, Peer: source.info.Peer})
	if p.cfg.Maintenance.SwapLinger == Disabled {
		return
	}
	now := time.Now()
	point = wire.NormalizePoint(point)
	p.mu.Lock()
	last := p.latestAccepted
	if p.latestSuccessful.After(last) {
		last = p.latestSuccessful
	}
	if pi := p.points[point]; now.Sub(last) < p.cfg.Maintenance.SwapLinger || pi != nil && pi.State != PointDisconnected || p.conns[source.info.Peer] != source {
		p.mu.Unlock()
		p.publish(Event{Kind: EventSwapRequestIgnored, Peer: source.info.Peer})
		return
	}
	var cands []*conn
	for _, c := range p.conns {
		if c != source && !c.info.PrivateNode && c.info.Point.IsValid() {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		p.mu.Unlock()
		return
	}
	if !p.takeSwapDialLocked(source, point, now) {
		p.mu.Unlock()
		p.publish(Event{Kind: EventSwapRequestIgnored, Peer: source.info.Peer})
		return
	}
	// The linger starts now, before the lock is released: two requests
	// arriving together on two connections cannot both pass it.
	p.latestAccepted = now
	offered := cands[rand.IntN(len(cands))]
	p.mu.Unlock()
	ack := wire.Message{Tag: wire.TagSwapAck, Point: offered.info.Point, PeerID: offered.info.Peer}
	if source.pushNow(outItem{b: ack.Append(nil)}) != nil {
		p.abandonDial(point)
		return
	}
	p.publish(Event{Kind: EventSwapAckSent, Peer: source.info.Peer})
	p.swap(source.info.Peer, point, offered.info.Peer)
}

// takeSwapDialLocked learns point from source and, if the pool may dial
// it, takes a slot of the dial limiter for it, with a token of the
// learned budget, and marks it requested; it reports whether the swap may
// dial. p.mu must be held.
func (p *core) takeSwapDialLocked(source *conn, point netip.AddrPort, now time.Time) bool {
	return p.learnPointLocked(point, source.remoteAddr) != nil && p.tryTakeDialLocked(point, now)
}

// onSwapAck handles the answer to our Swap_request: connect to the point
// offered and, on success, drop the peer we proposed. Only the first ack
// to a request of ours, within swapAckTimeout, is the answer (octez
// honours any ack on a connection it ever sent a request on, spec §12
// quirk 7): others are counted and ignored, so that a peer cannot make the
// pool dial by sending acks.
func (p *core) onSwapAck(source *conn, point netip.AddrPort) {
	p.publish(Event{Kind: EventSwapAckReceived, Peer: source.info.Peer})
	if p.cfg.Maintenance.SwapLinger == Disabled {
		return
	}
	now := time.Now()
	point = wire.NormalizePoint(point)
	p.mu.Lock()
	req := source.lastSwapRequest
	source.lastSwapRequest = swapRequest{} // answered, at most once
	if req.at.IsZero() || now.Sub(req.at) > swapAckTimeout || p.conns[source.info.Peer] != source {
		p.mu.Unlock()
		p.dial.acksIgnored.Add(1)
		source.log.Debug("Swap_ack ignored: it answers no request of ours")
		return
	}
	pi := p.points[point]
	busy := pi != nil && pi.State != PointDisconnected
	if busy || !p.takeSwapDialLocked(source, point, now) {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.swap(source.info.Peer, point, req.proposed)
}

// swap connects to point on a pool goroutine (octez awaits it in the
// connection's worker, stalling its reads; here the reader goes on) and,
// on success, ends the connection to drop. The caller took the dial
// (tryTakeDialLocked). The swap linger starts now and holds whatever the
// outcome: octez puts the previous time back after a failure, so a peer
// naming dead points could make it dial at every request.
func (p *core) swap(source PeerID, point netip.AddrPort, drop PeerID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.abandonDialLocked(point)
		return
	}
	p.latestAccepted = time.Now()
	p.goLocked(func() {
		_, err := p.attempt(p.ctx, point)
		if err != nil {
			p.publish(Event{Kind: EventSwapFailure, Peer: source, Point: point, Err: err})
			return
		}
		p.mu.Lock()
		p.latestSuccessful = time.Now()
		victim := p.conns[drop]
		p.mu.Unlock()
		p.publish(Event{Kind: EventSwapSuccess, Peer: source, Point: point})
		if victim != nil {
			victim.end(&DisconnectError{Reason: ReasonSwapped}, false)
		}
	})
}
