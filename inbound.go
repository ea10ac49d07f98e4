package p2ppool

import (
	"cmp"
	"context"
	"hash/maphash"
	"net/netip"
	"slices"
	"time"
)

// Inbound admission beyond octez: what keeps one host or one subnet from
// holding the slots an honest peer needs (README, Security). Everything
// here is guarded by Pool.mu and calls nothing outside this file.

// netGroups says which address and which subnet an address belongs to,
// for the per-address and per-subnet bounds and for eviction.
type netGroups struct {
	v4Subnet, v6Addr, v6Subnet int
	limitLoopback              bool
}

func newNetGroups(cfg *Config) netGroups {
	return netGroups{v4Subnet: cfg.Admission.SubnetBitsIPv4, v6Addr: cfg.Admission.AddrBitsIPv6, v6Subnet: cfg.Admission.SubnetBitsIPv6, limitLoopback: cfg.Admission.LimitLoopback}
}

// addr is a's address key: itself for IPv4, its /AddrBitsIPv6 for IPv6.
func (g netGroups) addr(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(g.v6Addr)
	return p
}

// subnet is a's subnet key.
func (g netGroups) subnet(a netip.Addr) netip.Prefix {
	bits := g.v6Subnet
	if a.Is4() {
		bits = g.v4Subnet
	}
	p, _ := a.Prefix(bits)
	return p
}

// limited reports whether the per-address and per-subnet bounds apply
// to a: not to loopback, unless Config.Admission.LimitLoopback.
func (g netGroups) limited(a netip.Addr) bool {
	return a.IsValid() && (g.limitLoopback || !a.IsLoopback())
}

// pendingHandshake is an incoming handshake in flight.
type pendingHandshake struct {
	addr, subnet netip.Prefix
	limited      bool
	started      time.Time
	// progressed: the peer's connection message has arrived, with a
	// valid proof of work; such a handshake is spared by eviction until
	// it has been pending for Timeouts.FirstMessage.
	progressed bool
	// admitted: past admission, not yet running (or failed); it counts
	// toward its address's share of established connections.
	admitted bool
	// refused: admission refused the peer and counted the refusal.
	refused bool
	// evict aborts the handshake to free its slot.
	evict context.CancelCauseFunc
}

// pendingSet holds the incoming handshakes in flight, at most
// MaxIncomingConnections of them. Guarded by the pool lock.
type pendingSet struct {
	all []*pendingHandshake
}

// admit decides on a new incoming socket from a: it refuses it when a's
// address or subnet already has its share of handshakes in flight, and
// when every slot is busy it picks the handshake to evict for it: the
// oldest of the most represented subnet. The caller evicts victim (not
// under the lock) and removes h when its handshake ends.
func (s *pendingSet) admit(cfg *Config, g netGroups, a netip.Addr, evict context.CancelCauseFunc, now time.Time, fails *failScores) (h *pendingHandshake, victim *pendingHandshake, refused RefusalReason, ok bool) {
	h = &pendingHandshake{addr: g.addr(a), subnet: g.subnet(a), limited: g.limited(a), started: now, evict: evict}
	if h.limited {
		var sameAddr, sameSubnet int
		for _, o := range s.all {
			if o.addr == h.addr {
				sameAddr++
			}
			if o.subnet == h.subnet {
				sameSubnet++
			}
		}
		if sameAddr >= cfg.Admission.MaxPendingPerAddr {
			return nil, nil, RefusedPendingPerAddr, false
		}
		if sameSubnet >= cfg.Admission.MaxPendingPerSubnet {
			return nil, nil, RefusedPendingPerSubnet, false
		}
	}
	if len(s.all) >= cfg.Admission.MaxIncomingConnections {
		victim = s.victim(now, cfg.Timeouts.FirstMessage, fails)
		if victim == nil {
			return nil, nil, RefusedTooManyIncoming, false
		}
		s.remove(victim)
	}
	s.all = append(s.all, h)
	return h, victim, 0, true
}

// victim is the oldest handshake of the most represented subnet (ties:
// the address with the higher stall score, then the older handshake),
// nil if there is none.
// Only handshakes that have not delivered their connection message (what
// an honest peer sends at once), or have been pending longer than
// firstMessage, may be evicted: an honest handshake in progress is never
// cut for a newcomer. Handshakes exempt from the bounds (loopback) are not
// evicted either. With no victim, the newcomer is refused, as in octez.
func (s *pendingSet) victim(now time.Time, firstMessage time.Duration, fails *failScores) *pendingHandshake {
	count := make(map[netip.Prefix]int, len(s.all))
	for _, o := range s.all {
		count[o.subnet]++
	}
	var best *pendingHandshake
	for _, o := range s.all {
		if !o.limited || o.progressed && (firstMessage <= 0 || now.Sub(o.started) < firstMessage) {
			continue
		}
		if best == nil {
			best = o
			continue
		}
		if c := cmp.Or(cmp.Compare(count[o.subnet], count[best.subnet]),
			cmp.Compare(fails.score(o.addr, now), fails.score(best.addr, now)),
			best.started.Compare(o.started)); c > 0 {
			best = o
		}
	}
	return best
}

// remove forgets h; it is a no-op when h was already evicted.
func (s *pendingSet) remove(h *pendingHandshake) {
	if i := slices.Index(s.all, h); i >= 0 {
		s.all = slices.Delete(s.all, i, i+1)
	}
}

// failScores counts, per address, the incoming handshakes that timed
// out, stalled or were evicted; at the limit the address is greylisted.
// Bounded: at most maxFailScores addresses are tracked, the stalest
// forgotten first. Guarded by the pool lock.
type failScores struct {
	m map[netip.Prefix]failScore
}

type failScore struct {
	n    int
	last time.Time
}

const (
	// failWindow: failures further apart than this do not add up.
	failWindow = 10 * time.Minute
	// maxFailScores bounds the addresses tracked (~64 B each).
	maxFailScores = 4096
)

// add counts a failure from addr and reports whether it reached limit
// (then the score is reset: the greylist takes over).
func (f *failScores) add(addr netip.Prefix, limit int, now time.Time) bool {
	if limit <= 0 {
		return false
	}
	if f.m == nil {
		f.m = make(map[netip.Prefix]failScore)
	}
	sc, ok := f.m[addr]
	if !ok && len(f.m) >= maxFailScores {
		f.forgetStalest(now)
	}
	if now.Sub(sc.last) > failWindow {
		sc.n = 0
	}
	sc.n++
	sc.last = now
	if sc.n >= limit {
		delete(f.m, addr)
		return true
	}
	f.m[addr] = sc
	return false
}

// score is addr's current count of failures (0 past the window).
func (f *failScores) score(addr netip.Prefix, now time.Time) int {
	sc, ok := f.m[addr]
	if !ok || now.Sub(sc.last) > failWindow {
		return 0
	}
	return sc.n
}

// forgetStalest drops the scores past the window, or, if none is, the
// oldest one.
func (f *failScores) forgetStalest(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	for k, sc := range f.m {
		if now.Sub(sc.last) > failWindow {
			delete(f.m, k)
			continue
		}
		if oldestAt.IsZero() || sc.last.Before(oldestAt) {
			oldest, oldestAt = k, sc.last
		}
	}
	if len(f.m) >= maxFailScores {
		delete(f.m, oldest)
	}
}

// evictCandidate is an established incoming connection that may be
// evicted for a newcomer.
type evictCandidate struct {
	id          uint64
	subnet      netip.Prefix
	established time.Time
	// lastUseful is when it last delivered an application message
	// (Unix nanoseconds, 0 never).
	lastUseful int64
}

// Protections of selectEviction, as Bitcoin Core's
// AttemptToEvictConnection (net.cpp) has them, less those measuring
// what the pool does not (ping, blocks, transactions).
const (
	protectBySubnet = 4 // by a keyed hash of the subnet: an attacker cannot choose which
	protectByUseful = 4 // most recent application message
)

// evictQuietAfter is how long a connection may go without delivering an
// application message before eviction counts it as quiet, as one that
// never delivered any is. An honest peer of a live network speaks far
// more often (an octez node gossips its head on every block).
const evictQuietAfter = 2 * time.Minute

// selectEviction picks the connection to evict so that a newcomer from
// subnet can come in, at time now (Unix nanoseconds). As Bitcoin Core's
// AttemptToEvictConnection does, it protects 4 connections by a keyed
// hash of their subnet (diversity no attacker can aim at) and the 4 that
// most recently delivered an application message. Then, as Core's
// prefer_evict narrows its choice to the peers it holds to be of no
// use, it looks only at the quiet connections, if any: those that never
// delivered an application message, or none for evictQuietAfter. Among
// them it evicts one of the most represented subnet, the one quiet the
// longest (since its last application message, or since it was
// established): long-lived idle connections go first, and a newcomer
// still has until the quiet older than it are gone to speak. Uptime
// protects no quiet connection: that is what let 90 idle connections
// that came first keep their slots while 19 of 20 honest peers arriving
// later, sending a message a second, were evicted. Without quiet
// connections it protects the older half of the rest by uptime and
// evicts the youngest connection of the most represented subnet among
// those left, as Core does. Either way it evicts only when the victim's
// subnet holds more incoming connections than the newcomer's does, so a
// crowded subnet cannot churn out others. cands excludes trusted peers.
func selectEviction(cands []evictCandidate, newcomer netip.Prefix, seed maphash.Seed, now int64) (uint64, bool) {
	perSubnet := make(map[netip.Prefix]int, len(cands))
	for _, c := range cands {
		perSubnet[c.subnet]++
	}
	rest := slices.Clone(cands)
	// Keyed subnet hash: keep the highest.
	keyed := func(c evictCandidate) uint64 {
		b := c.subnet.Addr().As16()
		return maphash.Bytes(seed, append(b[:], byte(c.subnet.Bits())))
	}
	slices.SortStableFunc(rest, func(a, b evictCandidate) int { return cmp.Compare(keyed(b), keyed(a)) })
	rest = rest[min(protectBySubnet, len(rest)):]
	slices.SortStableFunc(rest, func(a, b evictCandidate) int { return cmp.Compare(b.lastUseful, a.lastUseful) })
	useful := 0
	for useful < len(rest) && useful < protectByUseful && rest[useful].lastUseful != 0 {
		useful++
	}
	rest = rest[useful:]
	victim, found := quietVictim(rest, now)
	if !found {
		victim, found = youngestVictim(rest)
	}
	if !found || perSubnet[victim.subnet] <= perSubnet[newcomer] {
		return 0, false
	}
	return victim.id, true
}

// quietVictim is the quiet candidate (see selectEviction) of the most
// represented subnet among the quiet ones, quiet the longest (ties: the
// lower id), if any.
func quietVictim(cands []evictCandidate, now int64) (evictCandidate, bool) {
	quietSince := func(c evictCandidate) int64 {
		if c.lastUseful != 0 {
			return c.lastUseful
		}
		return c.established.UnixNano()
	}
	quiet := make(map[netip.Prefix]int)
	for _, c := range cands {
		if c.lastUseful == 0 || now-c.lastUseful > int64(evictQuietAfter) {
			quiet[c.subnet]++
		}
	}
	var victim evictCandidate
	found := false
	for _, c := range cands {
		if c.lastUseful != 0 && now-c.lastUseful <= int64(evictQuietAfter) {
			continue
		}
		if !found {
			victim, found = c, true
			continue
		}
		if d := cmp.Or(cmp.Compare(quiet[c.subnet], quiet[victim.subnet]),
			cmp.Compare(quietSince(victim), quietSince(c)),
			cmp.Compare(victim.id, c.id)); d > 0 {
			victim = c
		}
	}
	return victim, found
}

// youngestVictim protects the older half of cands by uptime and returns
// the youngest connection of the most represented subnet among those
// left (ties: the subnet with the youngest connection), if any.
func youngestVictim(cands []evictCandidate) (evictCandidate, bool) {
	rest := slices.Clone(cands)
	slices.SortStableFunc(rest, func(a, b evictCandidate) int { return a.established.Compare(b.established) })
	rest = rest[len(rest)/2:]
	left := make(map[netip.Prefix]int, len(rest))
	youngest := make(map[netip.Prefix]evictCandidate, len(rest))
	for _, c := range rest {
		left[c.subnet]++
		if y, ok := youngest[c.subnet]; !ok || c.established.After(y.established) {
			youngest[c.subnet] = c
		}
	}
	var victim evictCandidate
	found := false
	for sn, n := range left {
		y := youngest[sn]
		if !found || n > left[victim.subnet] || n == left[victim.subnet] && y.established.After(victim.established) {
			victim, found = y, true
		}
	}
	return victim, found
}
