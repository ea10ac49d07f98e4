package p2ppool

import (
	"cmp"
	"iter"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
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

// PointInfo is a snapshot of what the pool knows of a point.
type PointInfo struct {
	Point   netip.AddrPort
	State   PointState
	Trusted bool
	// Peer is the peer behind the point while it is accepted or running.
	Peer PeerID
	// KnownPublic: a peer reached at this point said it is not private,
	// so the point may be advertised.
	KnownPublic bool
	// LastSeen is the last time a connection with the point was
	// established or ended; LastMiss the last time one failed or ended.
	LastSeen time.Time
	LastMiss time.Time
}

// pointInfo is the pool's record of a point. Guarded by Pool.mu.
type pointInfo struct {
	PointInfo
}

// maxAdvertised is how many points octez puts in an Advertise or a nack.
const maxAdvertised = 50

// registerPointLocked returns the record of pt, creating it if new (octez
// register_point), and trims the table when it outgrows its limit.
// p.mu must be held.
func (p *Pool[Msg, PeerMeta, ConnMeta]) registerPointLocked(pt netip.AddrPort) *pointInfo {
	pt = netip.AddrPortFrom(pt.Addr().Unmap(), pt.Port())
	if pi := p.points[pt]; pi != nil {
		return pi
	}
	if len(p.points) >= p.cfg.MaxKnownPoints.High {
		p.gcPointsLocked()
	}
	pi := &pointInfo{PointInfo{Point: pt}}
	p.points[pt] = pi
	return pi
}

// registerNewPointsLocked learns points from a peer (Advertise, nack),
// skipping our own addresses. p.mu must be held.
func (p *Pool[Msg, PeerMeta, ConnMeta]) registerNewPointsLocked(pts []netip.AddrPort) {
	if p.cfg.DisablePeerDiscovery {
		return
	}
	for _, pt := range pts {
		if !pt.IsValid() || pt.Port() == 0 || slices.Contains(p.myPoints, pt) {
			continue
		}
		p.registerPointLocked(pt)
	}
}

// gcPointsLocked trims the known points to the low mark: disconnected,
// untrusted points only, the longest-missed first (never-missed last), as
// octez's point GC. p.mu must be held.
func (p *Pool[Msg, PeerMeta, ConnMeta]) gcPointsLocked() {
	excess := len(p.points) - p.cfg.MaxKnownPoints.Low
	if excess <= 0 {
		return
	}
	var victims []*pointInfo
	for _, pi := range p.points {
		if pi.State == PointDisconnected && !pi.Trusted {
			victims = append(victims, pi)
		}
	}
	slices.SortFunc(victims, func(a, b *pointInfo) int {
		switch {
		case a.LastMiss.IsZero() != b.LastMiss.IsZero():
			if a.LastMiss.IsZero() {
				return 1
			}
			return -1
		}
		return a.LastMiss.Compare(b.LastMiss)
	})
	for _, pi := range victims[:min(excess, len(victims))] {
		delete(p.points, pi.Point)
	}
}

// knownPointsLocked lists up to size points for a Bootstrap answer or a
// nack (octez list_known_points ~ignore_private:true): public points only,
// connected ones first (longest standing first), then disconnected ones
// seen most recently; past the first 3/5 the rest are drawn at random so
// that every node does not advertise the same points. p.mu must be held.
func (p *Pool[Msg, PeerMeta, ConnMeta]) knownPointsLocked(size int) []netip.AddrPort {
	var cands []*pointInfo
	for _, pi := range p.points {
		if pi.KnownPublic {
			cands = append(cands, pi)
		}
	}
	slices.SortFunc(cands, func(a, b *pointInfo) int {
		ad, bd := a.State == PointDisconnected, b.State == PointDisconnected
		switch {
		case ad != bd:
			if ad {
				return 1
			}
			return -1
		case !ad:
			return a.LastSeen.Compare(b.LastSeen) // oldest connection first
		default:
			return cmp.Compare(b.LastSeen.UnixNano(), a.LastSeen.UnixNano()) // most recent first
		}
	})
	if len(cands) > size {
		other := size * 2 / 5
		best := size - other
		rest := cands[best:]
		rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		cands = cands[:size]
	}
	out := make([]netip.AddrPort, len(cands))
	for i, pi := range cands {
		out[i] = pi.Point
	}
	return out
}

// Points returns a snapshot of the known points.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Points() iter.Seq2[netip.AddrPort, PointInfo] {
	p.mu.Lock()
	snap := make([]PointInfo, 0, len(p.points))
	for _, pi := range p.points {
		snap = append(snap, pi.PointInfo)
	}
	p.mu.Unlock()
	return func(yield func(netip.AddrPort, PointInfo) bool) {
		for _, pi := range snap {
			if !yield(pi.Point, pi) {
				return
			}
		}
	}
}
