package p2ppool

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// Swap (octez P2p_protocol): a node asks a peer to swap one of its
// connections for one of ours, so that the network keeps mixing. The
// state lives in Pool (latestAccepted, latestSuccessful, guarded by mu)
// and in each Connection (lastSwapRequest, guarded by Pool.mu).

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

// onSwapRequest handles a peer's Swap_request(point): unless a swap
// happened less than SwapLinger ago or point is already known and busy,
// answer Swap_ack with another of our peers, connect to point, and on
// success drop the connection to the peer we offered.
func (p *core) onSwapRequest(source *conn, point netip.AddrPort) {
	p.publish(Event{Kind: EventSwapRequestReceived, Peer: source.info.Peer})
	if p.cfg.SwapLinger == Disabled {
		return
	}
	now := time.Now()
	point = normalizePoint(point)
	p.mu.Lock()
	last := p.latestAccepted
	if p.latestSuccessful.After(last) {
		last = p.latestSuccessful
	}
	if pi := p.points[point]; now.Sub(last) < p.cfg.SwapLinger || pi != nil && pi.State != PointDisconnected || p.conns[source.info.Peer] != source {
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
	offered := cands[rand.IntN(len(cands))]
	p.mu.Unlock()
	ack := wire.Message{Tag: wire.TagSwapAck, Point: offered.info.Point, PeerID: offered.info.Peer}
	if source.pushNow(outItem{b: ack.Append(nil)}) != nil {
		return
	}
	p.publish(Event{Kind: EventSwapAckSent, Peer: source.info.Peer})
	p.swap(source.info.Peer, point, offered.info.Peer)
}

// onSwapAck handles the answer to our Swap_request: connect to the point
// offered and, on success, drop the peer we proposed.
func (p *core) onSwapAck(source *conn, point netip.AddrPort) {
	p.publish(Event{Kind: EventSwapAckReceived, Peer: source.info.Peer})
	if p.cfg.SwapLinger == Disabled {
		return
	}
	point = normalizePoint(point)
	p.mu.Lock()
	req := source.lastSwapRequest
	pi := p.points[point]
	busy := pi != nil && pi.State == PointRunning
	p.mu.Unlock()
	// As in octez, an answered request is never cleared or aged: any later
	// Swap_ack on this connection is honoured (spec §12 quirk 7).
	if req.at.IsZero() || busy {
		return
	}
	p.swap(source.info.Peer, point, req.proposed)
}

// swap connects to point on a pool goroutine (octez awaits it in the
// connection's worker, stalling its reads; here the reader goes on) and,
// on success, ends the connection to drop.
func (p *core) swap(source PeerID, point netip.AddrPort, drop PeerID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	previous := p.latestSuccessful
	p.latestAccepted = time.Now()
	p.goLocked(func() {
		_, err := p.connect(p.ctx, point)
		p.mu.Lock()
		if err != nil {
			p.latestAccepted = previous
			p.mu.Unlock()
			p.publish(Event{Kind: EventSwapFailure, Peer: source, Point: point, Err: err})
			return
		}
		p.latestSuccessful = time.Now()
		victim := p.conns[drop]
		p.mu.Unlock()
		p.publish(Event{Kind: EventSwapSuccess, Peer: source, Point: point})
		if victim != nil {
			victim.end(&DisconnectError{Reason: ReasonSwapped}, false)
		}
	})
}
