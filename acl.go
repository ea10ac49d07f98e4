package p2ppool

import (
	"net/netip"
	"slices"
	"time"

	"github.com/p2ppool/p2ppool/internal/greylist"
)

// acl is the pool's access control (octez P2p_acl): permanent bans of
// addresses and peers, and the automatic greylists. Guarded by the pool
// lock (locks.go), as admission reads it in its decisions and a
// greylisting ends the connections the registry lists at that moment;
// none of its methods but punish and countdownNow reads the clock.
type acl struct {
	// Immutable after core.wire.
	pool *poolMutex
	tab  *tables   // trusted peers and points are spared punishment
	reg  *registry // the connections a greylisting ends

	// Guarded by pool.
	bannedAddrs greylist.Multiset[netip.Addr]
	bannedPeers greylist.Multiset[PeerID]
	addrs       *greylist.AddrGreylist
	peers       *greylist.PeerSet[PeerID]
	// peerSince is when each greylisted peer was added, for ACL.GC.
	peerSince map[PeerID]time.Time
	// ticks are the times of the address greylist's last countdowns,
	// newest first (zero where none): an address the filter has counted
	// down k times was greylisted before ticks[k-1], which is how ACL.GC
	// reads an address's age from the filter.
	ticks [greylist.MaxCountdown]time.Time
}

// countdown ages the address greylist one step, at now.
func (a *acl) countdown(now time.Time) {
	a.addrs.Countdown()
	copy(a.ticks[1:], a.ticks[:len(a.ticks)-1])
	a.ticks[0] = now
}

// expireAddrs forgets the greylisted addresses the filter knows to be
// greylisted before cutoff: those counted down at least k times, for the
// smallest k whose countdown ran at or before cutoff. Those greylisted
// between that countdown and cutoff stay (the filter knows an address's
// age in countdown periods only), and none greylisted after cutoff goes.
func (a *acl) expireAddrs(cutoff time.Time) {
	for k, t := range a.ticks {
		if !t.IsZero() && !t.After(cutoff) {
			a.addrs.Expire(k + 1)
			return
		}
	}
}

func newACL(cfg *Config) (*acl, error) {
	addrs, err := greylist.NewAddrGreylist(cfg.Greylist.IPSizeKiB)
	if err != nil {
		return nil, err
	}
	peers, err := greylist.NewPeerSet[PeerID](cfg.Greylist.PeerSize)
	if err != nil {
		return nil, err
	}
	return &acl{addrs: addrs, peers: peers, peerSince: make(map[PeerID]time.Time)}, nil
}

// bannedAddr: banned or greylisted (octez banned_addr; the port does not
// matter).
func (a *acl) bannedAddr(addr netip.Addr) bool {
	return a.bannedAddrs.Contains(greylist.Key(addr)) || a.addrs.Contains(addr)
}

// bannedPeer: banned or greylisted (octez banned_peer).
func (a *acl) bannedPeer(id PeerID) bool {
	return a.bannedPeers.Contains(id) || a.peers.Contains(id)
}

func (a *acl) greylistPeer(id PeerID, now time.Time) {
	if old, evicted := a.peers.Add(id); evicted {
		delete(a.peerSince, old)
	}
	a.peerSince[id] = now
}

// unbanAddr lifts the ban and greylisting of addr. Unlike octez, one unban
// undoes any number of bans (octez's Hashtbl needs one unban per ban,
// spec §12 quirk 11).
func (a *acl) unbanAddr(addr netip.Addr) {
	a.bannedAddrs.RemoveAll(greylist.Key(addr))
	a.addrs.Remove(addr)
}

func (a *acl) unbanPeer(id PeerID) {
	a.bannedPeers.RemoveAll(id)
	a.peers.Remove(id)
	delete(a.peerSince, id)
}

// ACL is the view of the pool's access control (octez P2p_acl): the
// address and peer greylists, address bans, and their listing. Peer bans
// are on Peers. Get it from Pool.ACL; it is a handle, cheap to copy, safe
// for concurrent use.
type ACL struct{ p *core }

func endAll(conns []*conn, reason DisconnectReason) {
	for _, c := range conns {
		c.end(&DisconnectError{Reason: reason}, false)
	}
}

// GreylistAddr greylists addr: connections from it are refused until it
// decays (Config.Greylist.Timeout), and its running connections are ended
// (octez only refuses new ones).
func (a ACL) GreylistAddr(addr netip.Addr) error {
	p := a.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	victims := p.acl.greylistAddrLocked(addr, time.Now())
	p.mu.Unlock()
	endAll(victims, ReasonGreylisted)
	return nil
}

// GreylistPeer greylists peer and, if it is connected, its address for
// new connections, and ends the peer's own connection (octez
// greylist_peer). Other peers' connections from that address go on: an
// address may be shared by honest neighbours (a NAT, a data centre's
// gateway); GreylistAddr cuts them all. octez does nothing for a peer
// that is not connected; here the peer id is greylisted anyway. The peer
// greylist holds Config.Greylist.PeerSize ids, evicting the oldest.
func (a ACL) GreylistPeer(peer PeerID) error {
	p := a.p
	now := time.Now()
	if err := p.lockOpen(); err != nil {
		return err
	}
	p.acl.greylistPeer(peer, now)
	var victims []*conn
	if c := p.reg.conns[peer]; c != nil {
		if ap, ok := addrPortOf(c.info.RemoteAddr); ok {
			p.acl.addrs.Add(ap.Addr(), now)
		}
		victims = append(victims, c)
	}
	p.mu.Unlock()
	endAll(victims, ReasonGreylisted)
	return nil
}

// GC forgets the addresses and peers greylisted more than olderThan ago,
// all of them for olderThan <= 0; bans stay. The address greylist is
// octez's decaying Bloom filter, which knows an address's age only in
// countdown periods (Config.Greylist.Timeout/16, 90 minutes by default):
// an address is forgotten once a countdown has run since it was
// greylisted and at least olderThan ago, so one greylisted less than a
// period before that bound may stay until the next countdown; none
// greylisted within olderThan goes. octez's gc_greylist takes no age: it
// runs one extra countdown and purges the list (p2p_acl.ml:170-181,
// p2p_pool.ml:549); the countdown is left to the pool's own loop here.
func (a ACL) GC(olderThan time.Duration) error {
	p := a.p
	cutoff := time.Now().Add(-olderThan)
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	if olderThan <= 0 {
		p.acl.addrs.Expire(0)
	} else {
		p.acl.expireAddrs(cutoff)
	}
	for id, since := range p.acl.peerSince {
		if olderThan <= 0 || since.Before(cutoff) {
			p.acl.peers.Remove(id)
			delete(p.acl.peerSince, id)
		}
	}
	return nil
}

// Clear lifts every ban and greylisting (octez acl_clear, the RPC
// DELETE /network/greylist).
func (a ACL) Clear() error {
	p := a.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.acl.bannedAddrs.Clear()
	p.acl.bannedPeers.Clear()
	p.acl.addrs.Clear()
	p.acl.peers.Clear()
	clear(p.acl.peerSince)
	return nil
}

// BanAddr bans addr until UnbanAddr or Clear, and ends its running
// connections; with banPeers the peers of those connections are banned
// too (octez Points.ban ~ban_peers).
func (a ACL) BanAddr(addr netip.Addr, banPeers bool) error {
	p := a.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	p.acl.bannedAddrs.Add(greylist.Key(addr))
	victims := p.reg.connsFromLocked(addr)
	if banPeers {
		for _, c := range victims {
			p.acl.bannedPeers.Add(c.info.Peer)
		}
	}
	p.mu.Unlock()
	endAll(victims, ReasonBanned)
	return nil
}

// UnbanAddr lifts the ban and greylisting of addr and of the peers
// connected from it (octez Points.unban).
func (a ACL) UnbanAddr(addr netip.Addr) error {
	p := a.p
	if err := p.lockOpen(); err != nil {
		return err
	}
	defer p.mu.Unlock()
	p.acl.unbanAddr(addr)
	for _, c := range p.reg.connsFromLocked(addr) {
		p.acl.unbanPeer(c.info.Peer)
	}
	return nil
}

// AddrBanned reports whether connections from addr are refused: banned or
// greylisted.
func (a ACL) AddrBanned(addr netip.Addr) bool {
	p := a.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acl.bannedAddr(addr)
}

// ACLList is a snapshot of the ACL, for display.
type ACLList struct {
	// BannedAddrs and BannedPeers are banned until unbanned or cleared.
	BannedAddrs []netip.Addr
	BannedPeers []PeerID
	// GreylistedAddrs are the last addresses greylisted, oldest first
	// (octez's display list of Config.Greylist.IPSizeKiB entries): the
	// greylist itself is a decaying Bloom filter that cannot be listed.
	// Since GreylistNotReliableSince (zero if never) the list has been
	// full and lacks addresses pushed out of it, though they may still be
	// refused.
	GreylistedAddrs          []netip.Addr
	GreylistNotReliableSince time.Time
	// GreylistedPeers are the greylisted peer ids, oldest first.
	GreylistedPeers []PeerID
}

// List returns the banned and greylisted entries (octez's
// /network/greylist RPCs).
func (a ACL) List() ACLList {
	p := a.p
	p.mu.Lock()
	defer p.mu.Unlock()
	l := ACLList{
		GreylistNotReliableSince: p.acl.addrs.NotReliableSince(),
		GreylistedPeers:          p.acl.peers.List(),
	}
	for _, addr := range p.acl.addrs.List() {
		l.GreylistedAddrs = append(l.GreylistedAddrs, addr.Unmap())
	}
	for addr := range p.acl.bannedAddrs.All() {
		l.BannedAddrs = append(l.BannedAddrs, addr.Unmap())
	}
	for id := range p.acl.bannedPeers.All() {
		l.BannedPeers = append(l.BannedPeers, id)
	}
	slices.SortFunc(l.BannedAddrs, netip.Addr.Compare)
	slices.SortFunc(l.BannedPeers, func(a, b PeerID) int { return slices.Compare(a[:], b[:]) })
	return l
}

// greylistAddrLocked greylists addr and returns the connections to end:
// every running connection from that address. a.pool must be held.
func (a *acl) greylistAddrLocked(addr netip.Addr, now time.Time) []*conn {
	a.pool.assertHeld()
	a.addrs.Add(addr, now)
	return a.reg.connsFromLocked(addr)
}

// punish greylists, after a protocol violation, the address (and, once
// authenticated, the peer id) of the offender, as octez does, unless the
// operator trusts them. New connections from them are refused; other
// running connections from the same address are left alone (many peers
// may share an address behind a NAT): a misbehaving peer costs only its
// own connection.
func (a *acl) punish(addr netip.Addr, peer PeerID) {
	now := time.Now()
	a.pool.Lock()
	defer a.pool.Unlock()
	if pi := a.tab.peers[peer]; !peer.IsZero() && pi != nil && pi.Trusted {
		return
	}
	if addr.IsValid() && !a.tab.trustedAddrLocked(addr) {
		a.addrs.Add(addr, now)
	}
	if !peer.IsZero() {
		a.greylistPeer(peer, now)
	}
}

// countdownNow ages the address greylist one step (octez's bloomer
// countdown, every ip_greylist_cleanup_delay/16).
func (a *acl) countdownNow() {
	now := time.Now()
	a.pool.Lock()
	defer a.pool.Unlock()
	a.countdown(now)
}
