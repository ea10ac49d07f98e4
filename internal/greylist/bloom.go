package greylist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/crypto/blake2b"
)

// Parameters fixed by P2p_acl.create.
const (
	// CountdownBits is the width of a countdown cell (~countdown_bits:4).
	CountdownBits = 4
	// Hashes is the number of cell indexes derived from one address
	// (~hashes:5).
	Hashes = 5
	// MaxCountdown is the value Add stores in a cell (2^CountdownBits - 1):
	// an address stays a member for at most MaxCountdown countdowns.
	MaxCountdown = 1<<CountdownBits - 1
	// Generations is the number of countdown steps the cleanup delay is
	// split into (octez multiplies ip_cleanup_delay by 1/16).
	Generations = 16
	// MinIndexBits and MaxIndexBits bound the index width accepted by
	// Bloomer.create (0 < index_bits <= 24).
	MinIndexBits = 1
	MaxIndexBits = 24
	// MaxSizeKiB is the largest ip_greylist_size_in_kilobytes octez
	// accepts: 8192 KiB and above give index_bits = 25.
	MaxSizeKiB = 1<<(MaxIndexBits-11) - 1
)

// Defaults of the octez P2P limits (src/lib_p2p_services/p2p_limits.ml).
const (
	DefaultIPGreylistSizeKiB = 2048
	DefaultPeerGreylistSize  = 1023
	DefaultCleanupDelay      = 86400 * time.Second
)

// ErrInvalidSize is returned (wrapped) by the constructors for sizes octez
// rejects with Invalid_argument.
var ErrInvalidSize = errors.New("greylist: invalid size")

// CountdownPeriod is how often octez's cleanup loop calls Countdown for a
// given ip_greylist_cleanup_delay: cleanupDelay/16 (5400 s by default). A
// greylisted address is forgotten after MaxCountdown = 15 countdowns, i.e.
// between 14 and 15 periods after it was added (21 h to 22.5 h by default),
// unless a colliding address keeps its cells alive.
func CountdownPeriod(cleanupDelay time.Duration) time.Duration {
	return cleanupDelay / Generations
}

// IndexBitsForSize returns the index width octez derives from
// ip_greylist_size_in_kilobytes: Bits.numbits(sizeKiB·8·1024/4), which is
// bitlength(sizeKiB)+11. The filter then takes 2^ib·4 bits, i.e. between 1×
// and 2× sizeKiB (exactly 2× for a power of two: 2048 KiB → ib 23 → 4 MiB).
// Sizes ≤ 0 or ≥ MaxSizeKiB+1 are rejected, as octez does.
func IndexBitsForSize(sizeKiB int) (int, error) {
	if sizeKiB <= 0 {
		return 0, fmt.Errorf("%w: ip greylist size %d KiB must be positive", ErrInvalidSize, sizeKiB)
	}
	ib := bits.Len(uint(sizeKiB)) + 11
	if ib > MaxIndexBits {
		return 0, fmt.Errorf("%w: ip greylist size %d KiB gives %d index bits (max %d, i.e. size < %d KiB)",
			ErrInvalidSize, sizeKiB, ib, MaxIndexBits, MaxSizeKiB+1)
	}
	return ib, nil
}

// Bloom is octez's generational Bloom filter over IP addresses.
//
// The filter holds 2^ib 4-bit countdown cells. Add sets the Hashes cells of
// an address to MaxCountdown, Contains reports whether all of them are
// non-zero, Remove zeroes them (possibly removing colliding addresses too)
// and Countdown decrements every non-zero cell, so an address added once
// disappears after exactly MaxCountdown countdowns unless another address
// shares all its cells.
//
// Cell j occupies bits [4j, 4j+4) of the filter read as a little-endian bit
// string, exactly like octez's Bytes filter; it is stored in word j/16 at
// bit 4·(j%16), so the words serialised little-endian are byte-for-byte the
// octez filter.
//
// # Memory
//
// octez allocates the whole filter when it creates the ACL
// (src/lib_stdlib/bloomer.ml:215, Bytes.make in create, called from
// src/lib_p2p/p2p_acl.ml:80): 4 MiB for the default 2048 KiB, in every
// pool, greylisted or not. Here the words are cut into pages of PageBytes
// (4 KiB, 8192 cells) that are allocated when Add first sets a cell in
// them and freed when Countdown finds them all zero again; a page that is
// not allocated reads as zero cells. The page table (one slice header per
// page, 24 KiB for the default size) is allocated with the first page and
// freed with the last. So a filter that was never used, or whose
// addresses have all decayed, or that was cleared, holds no cells at all;
// k greylisted addresses hold at most 5k pages; and a full filter holds
// octez's size exactly (SizeBytes), plus the page table (0.6%). The cells,
// their indexes and every answer are octez's whichever pages are
// allocated: Contains has the same false positives, Countdown the same
// decay, the serialised words the same bytes. Filters of at most one page
// (ib ≤ 13) allocate their octez size at the first Add.
//
// IPv4 addresses are hashed in their v4-mapped form (::ffff:a.b.c.d), as
// octez (whose addresses are Ipaddr.V6.t) does; the zone is ignored and the
// zero netip.Addr hashes as "::".
//
// A Bloom is not safe for concurrent use.
type Bloom struct {
	ib uint
	// nwords is the number of 64-bit words the cells take, (2^ib+15)/16.
	nwords int
	// pages holds the cells, pageWords words a page (the last page of a
	// filter smaller than one page is shorter); pages[i] is nil while
	// its cells are all zero and pages is nil while every page is.
	pages [][]uint64
	// live counts the non-nil pages.
	live int
	// count mirrors octez's [count] statistics: count[i] approximates
	// the number of additions made i countdowns ago (see ApproxCount).
	count [MaxCountdown]int
	// empty is true when every cell is known to be zero; it lets
	// Countdown and FillRatio skip the scan. Purely an optimisation.
	empty bool
}

const (
	// pageShift is log2 of the words in a page: 512 words, 4 KiB.
	pageShift = 9
	pageWords = 1 << pageShift
	// pageCellShift is log2 of the cells in a page (16 a word).
	pageCellShift = pageShift + 4
	// PageBytes is the size of the pages the filter's cells are
	// allocated in.
	PageBytes = pageWords * 8
)

// NewBloom returns an empty filter sized as octez sizes it for
// ip_greylist_size_in_kilobytes = sizeKiB (see IndexBitsForSize). It
// allocates no cell (see Bloom's Memory section).
func NewBloom(sizeKiB int) (*Bloom, error) {
	ib, err := IndexBitsForSize(sizeKiB)
	if err != nil {
		return nil, err
	}
	return NewBloomBits(ib)
}

// NewBloomBits returns an empty filter of 2^indexBits cells, with
// MinIndexBits ≤ indexBits ≤ MaxIndexBits as Bloomer.create requires. It
// allocates no cell.
func NewBloomBits(indexBits int) (*Bloom, error) {
	if indexBits < MinIndexBits || indexBits > MaxIndexBits {
		return nil, fmt.Errorf("%w: index bits %d not in [%d, %d]", ErrInvalidSize, indexBits, MinIndexBits, MaxIndexBits)
	}
	cells := 1 << indexBits
	return &Bloom{
		ib:     uint(indexBits),
		nwords: (cells + 15) / 16,
		empty:  true,
	}, nil
}

// IndexBits returns ib: the filter has 2^ib cells.
func (b *Bloom) IndexBits() int { return int(b.ib) }

// Cells returns the number of countdown cells, 2^ib.
func (b *Bloom) Cells() int { return 1 << b.ib }

// SizeBytes returns octez's size of the filter, the memory its cells take
// once every page is allocated: 2^ib·4/8 bytes (rounded up to whole 64-bit
// words for ib < 4).
func (b *Bloom) SizeBytes() int { return b.nwords * 8 }

// AllocatedBytes returns the memory the cells hold now: the allocated
// pages, and the page table while there is one. It is 0 for a filter never
// added to, cleared, or whose cells have all counted down to zero.
func (b *Bloom) AllocatedBytes() int {
	if b.pages == nil {
		return 0
	}
	n := len(b.pages) * int(unsafe.Sizeof([]uint64(nil)))
	for _, pg := range b.pages {
		n += len(pg) * 8
	}
	return n
}

// numPages returns how many pages the cells span.
func (b *Bloom) numPages() int { return (b.nwords + pageWords - 1) / pageWords }

// pageLen returns the number of words of page i: pageWords, except for a
// filter smaller than one page.
func (b *Bloom) pageLen(i int) int { return min(pageWords, b.nwords-i*pageWords) }

// Key returns the canonical 16-byte form under which a is hashed and stored:
// IPv4 addresses become v4-mapped IPv6 addresses and zones are dropped.
func Key(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

// indexes computes the Hashes cell indexes of a, as octez does:
// h = Blake2b-256(16-byte IPv6 form of a) and index i = peek h (ib·i) ib,
// i.e. the bits [ib·i, ib·(i+1)) of h read as a little-endian integer
// (byte k holds bits 8k..8k+7, least significant first).
func (b *Bloom) indexes(a netip.Addr) [Hashes]uint32 {
	return indexes(a, b.ib)
}

func indexes(a netip.Addr, ib uint) [Hashes]uint32 {
	o := a.As16()
	h := blake2b.Sum256(o[:])
	mask := uint64(1)<<ib - 1
	var idx [Hashes]uint32
	for i := range uint(Hashes) {
		ofs := ib * i
		// ofs%8 + ib ≤ 7 + 24 bits always fit in the 8 bytes loaded,
		// and ofs/8 + 8 ≤ 96/8 + 8 = 20 ≤ 32 stays inside h.
		v := binary.LittleEndian.Uint64(h[ofs/8:])
		idx[i] = uint32(v >> (ofs % 8) & mask)
	}
	return idx
}

// cell returns the value of cell j, zero if its page is not allocated.
func (b *Bloom) cell(j uint32) uint64 {
	if b.pages == nil {
		return 0
	}
	pg := b.pages[j>>pageCellShift]
	if pg == nil {
		return 0
	}
	return pg[j>>4&(pageWords-1)] >> ((j & 15) * 4) & 0xF
}

// setCell sets cell j to v, allocating its page (and the page table) if
// needed. Setting a cell of a missing page to zero allocates nothing.
func (b *Bloom) setCell(j uint32, v uint64) {
	if b.pages == nil {
		if v == 0 {
			return
		}
		b.pages = make([][]uint64, b.numPages())
	}
	i := j >> pageCellShift
	pg := b.pages[i]
	if pg == nil {
		if v == 0 {
			return
		}
		pg = make([]uint64, b.pageLen(int(i)))
		b.pages[i] = pg
		b.live++
	}
	sh := (j & 15) * 4
	w := &pg[j>>4&(pageWords-1)]
	*w = *w&^(0xF<<sh) | v<<sh
}

// Add sets the cells of a to MaxCountdown (Bloomer.add).
func (b *Bloom) Add(a netip.Addr) {
	b.count[0]++
	for _, j := range b.indexes(a) {
		b.setCell(j, MaxCountdown)
	}
	b.empty = false
}

// Contains reports whether every cell of a is non-zero (Bloomer.mem). It
// may return false positives, never false negatives for an address added
// fewer than MaxCountdown countdowns ago and not removed since (a Remove of
// a colliding address, or Clear, can also drop it).
func (b *Bloom) Contains(a netip.Addr) bool {
	if b.empty {
		return false
	}
	for _, j := range b.indexes(a) {
		if b.cell(j) == 0 {
			return false
		}
	}
	return true
}

// Remove zeroes the cells of a (Bloomer.rem). Addresses sharing one of
// these cells are removed as well. Removals are not reflected in
// ApproxCount, as in octez.
func (b *Bloom) Remove(a netip.Addr) {
	if b.empty {
		return
	}
	for _, j := range b.indexes(a) {
		b.setCell(j, 0)
	}
}

const (
	nibbleLSBs = 0x1111111111111111
)

// nonZeroNibbles returns a word with bit 4k set iff nibble k of w is
// non-zero. The OR-folds only move bits within a nibble: bit 4k of the
// result is w[4k]|w[4k+1]|w[4k+2]|w[4k+3].
func nonZeroNibbles(w uint64) uint64 {
	w |= w >> 1
	w |= w >> 2
	return w & nibbleLSBs
}

// Countdown decrements every non-zero cell (Bloomer.countdown) and ages the
// ApproxCount statistics. It processes the cells 16 at a time: subtracting
// one from each non-zero nibble never borrows across nibbles. A page left
// all zero is freed, and the page table with the last page.
func (b *Bloom) Countdown() {
	copy(b.count[1:], b.count[:len(b.count)-1])
	b.count[0] = 0
	if b.empty {
		return
	}
	for i, pg := range b.pages {
		if pg != nil && !countdownPage(pg) {
			b.pages[i] = nil
			b.live--
		}
	}
	if b.live == 0 {
		b.pages = nil
		b.empty = true
	}
}

// countdownPage decrements the non-zero cells of ws and reports whether
// any cell is still non-zero.
func countdownPage(ws []uint64) bool {
	var any uint64
	i := 0
	for ; i+4 <= len(ws); i += 4 {
		w0, w1, w2, w3 := ws[i], ws[i+1], ws[i+2], ws[i+3]
		if w0|w1|w2|w3 == 0 {
			continue
		}
		w0 -= nonZeroNibbles(w0)
		w1 -= nonZeroNibbles(w1)
		w2 -= nonZeroNibbles(w2)
		w3 -= nonZeroNibbles(w3)
		ws[i], ws[i+1], ws[i+2], ws[i+3] = w0, w1, w2, w3
		any |= w0 | w1 | w2 | w3
	}
	for ; i < len(ws); i++ {
		w := ws[i]
		w -= nonZeroNibbles(w)
		ws[i] = w
		any |= w
	}
	return any != 0
}

// Expire zeroes every cell that has been counted down at least steps
// times since it was last set, that is every non-zero cell holding at most
// MaxCountdown-steps, and forgets those additions in the statistics; with
// steps <= 0 it is Clear, and with steps > MaxCountdown it does nothing.
// An address whose cells were all last set by its own Add is forgotten
// when it was added at least steps countdowns ago; a younger address is
// never forgotten (each of its cells holds at least its own value), so
// unlike Remove, Expire drops no colliding address younger than the bound.
// octez's Bloomer has no such call: its gc is one countdown
// (p2p_acl.ml:170-181); Expire is the same decay, brought forward for the
// cells already that old.
func (b *Bloom) Expire(steps int) {
	if steps <= 0 {
		b.Clear()
		return
	}
	if steps > MaxCountdown {
		return
	}
	for i := steps; i < len(b.count); i++ {
		b.count[i] = 0
	}
	if b.empty {
		return
	}
	limit := uint64(MaxCountdown - steps)
	for i, pg := range b.pages {
		if pg != nil && !expirePage(pg, limit) {
			b.pages[i] = nil
			b.live--
		}
	}
	if b.live == 0 {
		b.pages = nil
		b.empty = true
	}
}

// expirePage zeroes the non-zero cells of ws holding at most limit and
// reports whether any cell is still non-zero.
func expirePage(ws []uint64, limit uint64) bool {
	var any uint64
	for i, w := range ws {
		if w == 0 {
			continue
		}
		for sh := uint(0); sh < 64; sh += 4 {
			if v := w >> sh & 0xF; v != 0 && v <= limit {
				w &^= 0xF << sh
			}
		}
		ws[i] = w
		any |= w
	}
	return any != 0
}

// Clear zeroes every cell and the statistics (Bloomer.clear), freeing every
// page.
func (b *Bloom) Clear() {
	b.pages = nil
	b.live = 0
	b.count = [MaxCountdown]int{}
	b.empty = true
}

// NonZeroCells returns the number of non-zero cells.
func (b *Bloom) NonZeroCells() int {
	if b.empty {
		return 0
	}
	n := 0
	for _, pg := range b.pages {
		for _, w := range pg {
			if w != 0 {
				n += bits.OnesCount64(nonZeroNibbles(w))
			}
		}
	}
	return n
}

// FillRatio returns the fraction, in [0, 1], of non-zero cells
// (Bloomer.fill_percentage, despite its name a ratio).
func (b *Bloom) FillRatio() float64 {
	return float64(b.NonZeroCells()) / float64(b.Cells())
}

// Histogram returns how many cells hold each countdown value: h[k] cells are
// k countdowns away from zero (Bloomer.life_expectancy_histogram).
func (b *Bloom) Histogram() [MaxCountdown + 1]int {
	var h [MaxCountdown + 1]int
	n := b.Cells()
	if b.empty || b.pages == nil {
		h[0] = n
		return h
	}
	for i, pg := range b.pages {
		cells := min(1<<pageCellShift, n-i<<pageCellShift)
		if pg == nil {
			h[0] += cells
			continue
		}
		for c := range cells {
			h[pg[c>>4]>>(4*(c&15))&0xF]++
		}
	}
	return h
}

// ApproxCount over-approximates the number of additions that have not yet
// expired: the number of Add calls made during the last MaxCountdown
// countdown periods (Bloomer.approx_count). It is exact when Remove is never
// used, re-adding the same address counts twice, and Clear resets it.
func (b *Bloom) ApproxCount() int {
	n := 0
	for _, c := range b.count {
		n += c
	}
	return n
}
