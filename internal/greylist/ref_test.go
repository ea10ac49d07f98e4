package greylist

import (
	"net/netip"

	"golang.org/x/crypto/blake2b"
)

// refBloomer is a line-by-line transliteration of octez's
// src/lib_stdlib/bloomer.ml (peek_unsafe, poke_unsafe, add, mem, rem,
// countdown, clear, fill_percentage) with the hash and parameters of
// P2p_acl.create, used as an oracle for the optimised Bloom.
type refBloomer struct {
	indexBits, countdownBits, hashes int
	filter                           []byte
}

func newRefBloomer(indexBits int) *refBloomer {
	const countdownBits = 4
	return &refBloomer{
		indexBits:     indexBits,
		countdownBits: countdownBits,
		hashes:        5,
		filter:        make([]byte, ((1<<indexBits)*countdownBits+7)/8),
	}
}

// peek: let first = ofs / 8 in let last = first + (((ofs mod 8) + bits + 7) / 8) in
// v := fold from last-1 downto first of (v lsl 8) lor byte; v lsr (ofs mod 8) land mask.
func refPeek(b []byte, ofs, nbits int) int {
	first := ofs / 8
	last := first + ((ofs%8)+nbits+7)/8
	v := 0
	for i := last - 1; i >= first; i-- {
		v = v<<8 | int(b[i])
	}
	v >>= ofs % 8
	return v & (1<<nbits - 1)
}

func refPoke(b []byte, ofs, nbits, val int) {
	first := ofs / 8
	last := first + ((ofs%8)+nbits+7)/8
	cur := 0
	for i := last - 1; i >= first; i-- {
		cur = cur<<8 | int(b[i])
	}
	mask := ^((1<<nbits - 1) << (ofs % 8))
	v := cur&mask | val<<(ofs%8)
	for i := first; i < last; i++ {
		b[i] = byte(v >> ((i - first) * 8))
	}
}

// hash: Tezos_crypto.Blake2B.(to_bytes (hash_string [Ipaddr.V6.to_octets x]))
func refHash(a netip.Addr) []byte {
	o := a.As16()
	h := blake2b.Sum256(o[:])
	return h[:]
}

func (r *refBloomer) indexes(a netip.Addr) []int {
	h := refHash(a)
	out := make([]int, r.hashes)
	for i := range out {
		out[i] = refPeek(h, r.indexBits*i, r.indexBits)
	}
	return out
}

func (r *refBloomer) add(a netip.Addr) {
	for _, j := range r.indexes(a) {
		refPoke(r.filter, j*r.countdownBits, r.countdownBits, 1<<r.countdownBits-1)
	}
}

func (r *refBloomer) rem(a netip.Addr) {
	for _, j := range r.indexes(a) {
		refPoke(r.filter, j*r.countdownBits, r.countdownBits, 0)
	}
}

func (r *refBloomer) mem(a netip.Addr) bool {
	for _, j := range r.indexes(a) {
		if refPeek(r.filter, j*r.countdownBits, r.countdownBits) == 0 {
			return false
		}
	}
	return true
}

func (r *refBloomer) countdown() {
	for j := 0; j < 1<<r.indexBits; j++ {
		cur := refPeek(r.filter, j*r.countdownBits, r.countdownBits)
		if cur > 0 {
			refPoke(r.filter, j*r.countdownBits, r.countdownBits, cur-1)
		}
	}
}

func (r *refBloomer) clear() { clear(r.filter) }

func (r *refBloomer) fillPercentage() float64 {
	n := 0
	for j := 0; j < 1<<r.indexBits; j++ {
		if refPeek(r.filter, j*r.countdownBits, r.countdownBits) > 0 {
			n++
		}
	}
	return float64(n) / float64(int(1)<<r.indexBits)
}

// expire is Bloom.Expire cell by cell on the octez layout (octez has no
// such call): cells counted down at least steps times are zeroed.
func (r *refBloomer) expire(steps int) {
	for j := 0; j < 1<<r.indexBits; j++ {
		cur := refPeek(r.filter, j*r.countdownBits, r.countdownBits)
		if cur > 0 && cur <= 1<<r.countdownBits-1-steps {
			refPoke(r.filter, j*r.countdownBits, r.countdownBits, 0)
		}
	}
}
