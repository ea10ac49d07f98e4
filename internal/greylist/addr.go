package greylist

import (
	"net/netip"
	"time"
)

// AddrGreylist is octez's IP greylist (P2p_acl.greylist_t): a Bloom that
// answers membership, plus a bounded FIFO of the greylisted addresses kept
// only so that they can be listed (the filter cannot be enumerated), plus
// the date of the first overflow of that FIFO.
//
// The FIFO has the PeerSet semantics and a capacity of sizeKiB entries
// (octez reuses ip_greylist_size_in_kilobytes as an entry count). It is
// not purged when the filter forgets an address: only GC does that, so
// List can show expired addresses.
//
// Addresses are stored in their canonical 16-byte form (see Key): an IPv4
// address and its v4-mapped IPv6 form are the same entry, and List returns
// v4-mapped addresses, as octez (whose addresses are Ipaddr.V6.t) does.
// Callers wanting dotted quads can Unmap them.
//
// NewAddrGreylist allocates neither the filter's cells nor the FIFO's map:
// they grow with the greylisted addresses (see Bloom) and shrink back as
// they decay or are cleared.
//
// An AddrGreylist is not safe for concurrent use.
type AddrGreylist struct {
	bloom            *Bloom
	fifo             *PeerSet[netip.Addr]
	notReliableSince time.Time
}

// NewAddrGreylist returns an empty IP greylist for
// ip_greylist_size_in_kilobytes = sizeKiB (see IndexBitsForSize for the
// accepted range).
func NewAddrGreylist(sizeKiB int) (*AddrGreylist, error) {
	b, err := NewBloom(sizeKiB)
	if err != nil {
		return nil, err
	}
	f, err := NewPeerSet[netip.Addr](sizeKiB)
	if err != nil {
		return nil, err
	}
	return &AddrGreylist{bloom: b, fifo: f}, nil
}

// Add greylists a (IPGreylist.add): it is added to the filter and to the
// display FIFO. If the FIFO is full before the add, even when a is already
// in it, and no overflow has been recorded since the last Clear, now is
// recorded as the NotReliableSince date.
func (g *AddrGreylist) Add(a netip.Addr, now time.Time) {
	k := Key(a)
	g.bloom.Add(k)
	if g.notReliableSince.IsZero() && g.fifo.Full() {
		g.notReliableSince = now
	}
	g.fifo.Add(k)
}

// Contains reports whether a is greylisted according to the filter
// (IPGreylist.mem); false positives are possible.
func (g *AddrGreylist) Contains(a netip.Addr) bool { return g.bloom.Contains(a) }

// Remove un-greylists a: its cells are zeroed in the filter (which can
// un-greylist colliding addresses) and it is removed from the FIFO (the
// greylist half of P2p_acl.unban_addr).
func (g *AddrGreylist) Remove(a netip.Addr) {
	k := Key(a)
	g.bloom.Remove(k)
	g.fifo.Remove(k)
}

// Countdown is one step of octez's cleanup loop: it decrements the filter
// cells and leaves the FIFO alone. The pool calls it every
// CountdownPeriod(ip_greylist_cleanup_delay).
func (g *AddrGreylist) Countdown() { g.bloom.Countdown() }

// GC is IPGreylist.gc (the pool's gc_greylist): one extra Countdown, then
// every FIFO entry the filter no longer contains is dropped.
func (g *AddrGreylist) GC() {
	g.bloom.Countdown()
	g.purge()
}

// Expire forgets the addresses greylisted at least steps countdowns ago
// (Bloom.Expire; steps <= 0 forgets them all), then drops every FIFO
// entry the filter no longer contains, as GC does. An address greylisted
// fewer than steps countdowns ago stays.
func (g *AddrGreylist) Expire(steps int) {
	g.bloom.Expire(steps)
	g.purge()
}

// purge drops every FIFO entry the filter no longer contains.
func (g *AddrGreylist) purge() {
	for n := g.fifo.root.next; n != &g.fifo.root; {
		next := n.next
		if !g.bloom.Contains(n.key) {
			g.fifo.Remove(n.key)
		}
		n = next
	}
}

// ClearFilter empties the filter only, keeping the FIFO and the
// NotReliableSince date (IPGreylist.clear, the pool's clear_greylist).
func (g *AddrGreylist) ClearFilter() { g.bloom.Clear() }

// Clear empties the filter and the FIFO and forgets the overflow date (the
// IP-greylist part of P2p_acl.clear, the pool's acl_clear).
func (g *AddrGreylist) Clear() {
	g.bloom.Clear()
	g.fifo.Clear()
	g.notReliableSince = time.Time{}
}

// List returns the addresses of the display FIFO from the oldest to the
// newest greylisting (IPGreylist.list). If NotReliableSince is set, the
// list lacks addresses evicted since then; it may also show addresses the
// filter has already forgotten (see GC).
func (g *AddrGreylist) List() []netip.Addr { return g.fifo.List() }

// NotReliableSince returns the time of the first Add that found the FIFO
// full since creation or the last Clear, or the zero time if there was
// none (IPGreylist.list_not_reliable_since).
func (g *AddrGreylist) NotReliableSince() time.Time { return g.notReliableSince }

// Len returns the number of addresses in the display FIFO.
func (g *AddrGreylist) Len() int { return g.fifo.Len() }

// Cap returns the capacity of the display FIFO.
func (g *AddrGreylist) Cap() int { return g.fifo.Cap() }

// FillRatio returns the fraction of non-zero filter cells
// (IPGreylist.fill_percentage).
func (g *AddrGreylist) FillRatio() float64 { return g.bloom.FillRatio() }

// Histogram returns the filter's life-expectancy histogram
// (IPGreylist.life_expectancy_histogram).
func (g *AddrGreylist) Histogram() [MaxCountdown + 1]int { return g.bloom.Histogram() }

// Bloom returns the underlying filter, for monitoring (SizeBytes,
// ApproxCount, ...). Mutating it directly bypasses the FIFO bookkeeping.
func (g *AddrGreylist) Bloom() *Bloom { return g.bloom }
