package p2ppool

import (
	"cmp"
	"iter"
	"net/netip"
	"slices"
	"time"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// tables are the peers and points the pool knows, with their histories,
// and the points found to be this node (octez P2p_pool's known_peer_ids,
// known_points and my_id_points), with octez's GC that keeps each within
// its bounds. Guarded by the pool lock (locks.go): admission, the dialer
// and the teardown of a connection read and write them in the same
// critical sections as the registry; every ...Locked method asserts it.
type tables struct {
	// Immutable after newCore.
	mu       *poolMutex
	cfg      *Config
	peerMeta peerMetaHooks
	events   *eventHub // new peers and points, GCs: published under mu
	dial     *dialer   // the scope rule for learned points, and its counters
	acl      *acl      // banned addresses are not advertised

	// Guarded by mu.
	peers  map[PeerID]*peerInfo
	points map[netip.AddrPort]*pointInfo
	// myPoints are addresses found to be our own (octez my_id_points).
	myPoints []netip.AddrPort
}

// init makes the maps and gives t the parts it uses.
func (t *tables) init(d *dialer, a *acl) {
	t.dial, t.acl = d, a
	t.peers = make(map[PeerID]*peerInfo)
	t.points = make(map[netip.AddrPort]*pointInfo)
}

// fresh is what a newly known peer starts with: PeerMetaConfig.Initial
// and its Score, computed by the caller before it takes t.mu (the
// application's code never runs under the pool's lock).
func (t *tables) fresh() scoredMeta {
	m := t.peerMeta.initial()
	return scoredMeta{m, t.peerMeta.score(m)}
}

// registerPeerLocked returns the record of id, creating it if new (octez
// register_peer) with init, from fresh: the table is trimmed first when
// full, and a new peer is announced. t.mu must be held.
func (t *tables) registerPeerLocked(id PeerID, init scoredMeta) *peerInfo {
	t.mu.assertHeld()
	if pi := t.peers[id]; pi != nil {
		return pi
	}
	if t.cfg.Tables.MaxKnownPeerIDs.full(len(t.peers)) {
		t.gcPeersLocked()
	}
	pi := t.newPeerInfo(id, time.Now(), init)
	t.peers[id] = pi
	t.events.publish(Event{Kind: EventNewPeer, Peer: id})
	return pi
}

func (t *tables) newPeerInfo(id PeerID, created time.Time, init scoredMeta) *peerInfo {
	return &peerInfo{
		PeerInfo: PeerInfo[any]{Peer: id, Created: created, Meta: init.meta, Score: init.score},
		events:   newRing[PeerEvent](t.cfg.Tables.PeerIDsHistorySize),
	}
}

// gcPeersLocked trims the known peers to the low mark as octez's peer GC
// does: among disconnected, untrusted peers, the lowest scores go first,
// and among equal scores the most recently created (a flood of new ids
// cannot push out long-known peers). Like octez, it does nothing, and
// publishes no EventGCPeers, unless the table is above the low mark. t.mu
// must be held.
func (t *tables) gcPeersLocked() {
	t.mu.assertHeld()
	if t.cfg.Tables.MaxKnownPeerIDs.unbounded() {
		return // octez None: no GC (p2p_pool.ml:210)
	}
	excess := len(t.peers) - t.cfg.Tables.MaxKnownPeerIDs.Low
	if excess <= 0 {
		return
	}
	defer t.events.publish(Event{Kind: EventGCPeers})
	var victims []*peerInfo
	for _, pi := range t.peers {
		if pi.State == PeerDisconnected && !pi.Trusted {
			victims = append(victims, pi)
		}
	}
	slices.SortStableFunc(victims, func(a, b *peerInfo) int {
		if c := cmp.Compare(a.Score, b.Score); c != 0 {
			return c
		}
		return b.Created.Compare(a.Created)
	})
	for _, pi := range victims[:min(excess, len(victims))] {
		delete(t.peers, pi.Peer)
	}
}

// registerPointLocked returns the record of pt, creating it if new (octez
// register_point): the table is trimmed first when full, and a new point
// is announced. t.mu must be held.
func (t *tables) registerPointLocked(pt netip.AddrPort) *pointInfo {
	t.mu.assertHeld()
	pt = wire.NormalizePoint(pt)
	if pi := t.points[pt]; pi != nil {
		return pi
	}
	if t.cfg.Tables.MaxKnownPoints.full(len(t.points)) {
		t.gcPointsLocked()
	}
	pi := &pointInfo{PointInfo: PointInfo{Point: pt}, events: newRing[PointEvent](t.cfg.Tables.PointsHistorySize)}
	t.points[pt] = pi
	t.events.publish(Event{Kind: EventNewPoint, Point: pt})
	return pi
}

// registerNewPointsLocked learns points a peer at from named (Advertise,
// nack), skipping our own addresses and those learnPointLocked refuses.
// t.mu must be held.
func (t *tables) registerNewPointsLocked(pts []netip.AddrPort, from netip.Addr) {
	t.mu.assertHeld()
	if t.cfg.Network.DisablePeerDiscovery {
		return
	}
	for _, pt := range pts {
		pt = wire.NormalizePoint(pt)
		if !pt.IsValid() || pt.Port() == 0 || slices.Contains(t.myPoints, pt) {
			continue
		}
		t.learnPointLocked(pt, from)
	}
}

// learnPointLocked returns the record of pt, a point the peer at from
// named, creating it as a learned point if new. It returns nil, counting
// why, when pt may not be learned from there or when the table is full
// and its GC finds nothing to remove: however many points peers name, the
// table stays within MaxKnownPoints.High. t.mu must be held.
func (t *tables) learnPointLocked(pt netip.AddrPort, from netip.Addr) *pointInfo {
	t.mu.assertHeld()
	pt = wire.NormalizePoint(pt)
	if pi := t.points[pt]; pi != nil {
		return pi
	}
	if !t.dial.learnable(pt.Addr(), from) {
		t.dial.nonRoutable.Add(1)
		return nil
	}
	if t.cfg.Tables.MaxKnownPoints.full(len(t.points)) {
		t.gcPointsLocked()
		if t.cfg.Tables.MaxKnownPoints.full(len(t.points)) {
			t.dial.tableFull.Add(1)
			return nil
		}
	}
	pi := t.registerPointLocked(pt)
	pi.Learned = true
	pi.namer = scopeOf(from)
	return pi
}

// gcPointsLocked trims the known points to the low mark as octez's point
// GC does: among disconnected, untrusted points, the longest-missed go
// first and never-missed ones last. Trusted and connected points are never
// evicted. Like octez, it does nothing, and publishes no EventGCPoints,
// unless the table is above the low mark. t.mu must be held.
func (t *tables) gcPointsLocked() {
	t.mu.assertHeld()
	if t.cfg.Tables.MaxKnownPoints.unbounded() {
		return // octez None: no GC (p2p_pool.ml:89)
	}
	excess := len(t.points) - t.cfg.Tables.MaxKnownPoints.Low
	if excess <= 0 {
		return
	}
	defer t.events.publish(Event{Kind: EventGCPoints})
	now := time.Now()
	var victims []*pointInfo
	for _, pi := range t.points {
		if pi.State == PointDisconnected && !pi.Trusted {
			victims = append(victims, pi)
		}
	}
	missed := func(pi *pointInfo) time.Time {
		if t := pi.LastMiss(); !t.IsZero() {
			return t
		}
		return now
	}
	slices.SortStableFunc(victims, func(a, b *pointInfo) int { return missed(a).Compare(missed(b)) })
	for _, pi := range victims[:min(excess, len(victims))] {
		delete(t.points, pi.Point)
	}
}

// knownPointsLocked lists up to size points for a nack (octez
// list_known_points ~ignore_private:true), ranked by rankAdvertised.
// t.mu must be held. A Bootstrap is answered from the cached
// advertisement instead (control.go).
func (t *tables) knownPointsLocked(size int) []netip.AddrPort {
	t.mu.assertHeld()
	return rankAdvertised(t.advertiseCandidatesLocked(), size)
}

// advertiseCandidatesLocked copies the advertisable points (octez
// list_known_points ~ignore_private:true: public and not banned). t.mu
// must be held. It is O(table), and copies only.
func (t *tables) advertiseCandidatesLocked() []advCand {
	t.mu.assertHeld()
	cands := make([]advCand, 0, len(t.points))
	for _, pi := range t.points {
		if pi.KnownPublic && !t.acl.bannedAddr(pi.Point.Addr()) {
			cands = append(cands, advCand{pt: pi.Point, disconnected: pi.State == PointDisconnected, lastSeen: pi.LastSeen().Time})
		}
	}
	return cands
}

// pointsSnapshot copies the records that match.
func (t *tables) pointsSnapshot(match func(*pointInfo) bool) iter.Seq2[netip.AddrPort, PointInfo] {
	t.mu.Lock()
	snap := make([]PointInfo, 0, len(t.points))
	for _, pi := range t.points {
		if match(pi) {
			snap = append(snap, pi.PointInfo)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(snap, func(a, b PointInfo) int { return a.Point.Compare(b.Point) })
	return func(yield func(netip.AddrPort, PointInfo) bool) {
		for _, pi := range snap {
			if !yield(pi.Point, pi) {
				return
			}
		}
	}
}

// trustedAddrLocked: a trusted point has this address. Automatic
// greylisting spares trusted points and peers. t.mu must be held.
func (t *tables) trustedAddrLocked(addr netip.Addr) bool {
	t.mu.assertHeld()
	addr = addr.Unmap()
	for pt, pi := range t.points {
		if pi.Trusted && pt.Addr() == addr {
			return true
		}
	}
	return false
}

// trustedConnLocked reports whether c's peer or point is trusted. t.mu
// must be held.
func (t *tables) trustedConnLocked(c *conn) bool {
	t.mu.assertHeld()
	if pe := t.peers[c.info.Peer]; pe != nil && pe.Trusted {
		return true
	}
	pt := t.points[c.info.Point]
	return c.info.Point.IsValid() && pt != nil && pt.Trusted
}

// rememberMyself records a point that turned out to be this node, so it
// is neither kept nor dialled again (octez my_id_points, 7 entries).
func (t *tables) rememberMyself(pt netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.myPoints, pt) {
		if len(t.myPoints) == 7 {
			t.myPoints = t.myPoints[1:]
		}
		t.myPoints = append(t.myPoints, pt)
	}
	if pi := t.points[pt]; pi != nil && !pi.Trusted {
		delete(t.points, pt)
	}
}
