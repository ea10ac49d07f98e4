package crypto

import (
	"encoding/binary"
	"math/bits"
)

// Poly1305 pieces for the vector code on amd64 (poly1305_amd64.go): the
// assembly evaluates the bulk of a message over eight lanes and these
// finish it. The arithmetic of polyUpdate and polyFinish follows
// golang.org/x/crypto/internal/poly1305 (sum_generic.go, BSD licence);
// poly26 is the radix-2^26 form the assembly uses. Everything
// is constant time: no branch or index depends on key or message bytes.

// polyState is a Poly1305 evaluation in radix 2^64: h is the accumulator
// (h[2] small), r the clamped key half, s the half added at the end.
type polyState struct {
	h [3]uint64
	r [2]uint64
	s [2]uint64
}

func newPolyState(key *[32]byte) polyState {
	return polyState{
		r: [2]uint64{
			binary.LittleEndian.Uint64(key[0:8]) & 0x0FFFFFFC0FFFFFFF,
			binary.LittleEndian.Uint64(key[8:16]) & 0x0FFFFFFC0FFFFFFC,
		},
		s: [2]uint64{binary.LittleEndian.Uint64(key[16:24]), binary.LittleEndian.Uint64(key[24:32])},
	}
}

// polyUpdate absorbs msg, the last block of which may be partial (then
// padded with a 1 byte and no 2^128 bit, as the tag computation requires).
func (st *polyState) polyUpdate(msg []byte) {
	h0, h1, h2 := st.h[0], st.h[1], st.h[2]
	r0, r1 := st.r[0], st.r[1]
	for len(msg) > 0 {
		var c uint64
		if len(msg) >= TagSize {
			h0, c = bits.Add64(h0, binary.LittleEndian.Uint64(msg[0:8]), 0)
			h1, c = bits.Add64(h1, binary.LittleEndian.Uint64(msg[8:16]), c)
			h2 += c + 1
			msg = msg[TagSize:]
		} else {
			var buf [TagSize]byte
			copy(buf[:], msg)
			buf[len(msg)] = 1
			h0, c = bits.Add64(h0, binary.LittleEndian.Uint64(buf[0:8]), 0)
			h1, c = bits.Add64(h1, binary.LittleEndian.Uint64(buf[8:16]), c)
			h2 += c
			msg = nil
		}
		h0, h1, h2 = polyMulR(h0, h1, h2, r0, r1)
	}
	st.h[0], st.h[1], st.h[2] = h0, h1, h2
}

// polyMulR returns h*r mod 2^130-5, partially reduced (the result's top
// word is at most 5), for h2 at most 7 and a clamped r.
func polyMulR(h0, h1, h2, r0, r1 uint64) (uint64, uint64, uint64) {
	// h2 is at most 7 and r0, r1 have their top 4 bits clear, so h2*r0
	// and h2*r1 fit in 64 bits and the sums below cannot overflow.
	h0r0hi, h0r0lo := bits.Mul64(h0, r0)
	h1r0hi, h1r0lo := bits.Mul64(h1, r0)
	h0r1hi, h0r1lo := bits.Mul64(h0, r1)
	h1r1hi, h1r1lo := bits.Mul64(h1, r1)
	h2r0 := h2 * r0
	h2r1 := h2 * r1

	m1lo, c1 := bits.Add64(h1r0lo, h0r1lo, 0)
	m1hi, _ := bits.Add64(h1r0hi, h0r1hi, c1)
	m2lo, c2 := bits.Add64(h2r0, h1r1lo, 0)
	m2hi, _ := bits.Add64(0, h1r1hi, c2)

	t0 := h0r0lo
	t1, c := bits.Add64(m1lo, h0r0hi, 0)
	t2, c := bits.Add64(m2lo, m1hi, c)
	t3, _ := bits.Add64(h2r1, m2hi, c)

	// Fold everything from 2^130 up back times 5 (2^130 = 5 mod p):
	// cc = 4*(t>>130), added once as is and once shifted by 2.
	h0, h1, h2 = t0, t1, t2&3
	cclo, cchi := t2&^3, t3
	h0, c = bits.Add64(h0, cclo, 0)
	h1, c = bits.Add64(h1, cchi, c)
	h2 += c
	cclo, cchi = cclo>>2|cchi<<62, cchi>>2
	h0, c = bits.Add64(h0, cclo, 0)
	h1, c = bits.Add64(h1, cchi, c)
	h2 += c
	return h0, h1, h2
}

// polyFinish writes the tag: h reduced mod 2^130-5 (selected without a
// branch), plus s, mod 2^128.
func (st *polyState) polyFinish(out *[TagSize]byte) {
	h0, h1, h2 := st.h[0], st.h[1], st.h[2]
	t0, b := bits.Sub64(h0, 0xFFFFFFFFFFFFFFFB, 0)
	t1, b := bits.Sub64(h1, 0xFFFFFFFFFFFFFFFF, b)
	_, b = bits.Sub64(h2, 3, b)
	// b is 1 when h < p: keep h; else take h-p.
	keep := -b
	h0 = h0&keep | t0&^keep
	h1 = h1&keep | t1&^keep
	h0, c := bits.Add64(h0, st.s[0], 0)
	h1, _ = bits.Add64(h1, st.s[1], c)
	binary.LittleEndian.PutUint64(out[0:8], h0)
	binary.LittleEndian.PutUint64(out[8:16], h1)
}

// poly26 is a number mod 2^130-5 in five 26-bit limbs.
type poly26 [5]uint64

const mask26 = 1<<26 - 1

// to26 splits h0 + h1<<64 + h2<<128 (h2 at most 5) into limbs, all below
// 2^26 but the top one, below 2^27.
func to26(h0, h1, h2 uint64) poly26 {
	return poly26{
		h0 & mask26,
		h0 >> 26 & mask26,
		(h0>>52 | h1<<12) & mask26,
		h1 >> 14 & mask26,
		h1>>40 | h2<<24,
	}
}

// carry26 carries d (limbs below 2^60) once around: limbs end below 2^26
// but for limb 1, below 2^26+2^9.
func carry26(d [5]uint64) poly26 {
	d[1] += d[0] >> 26
	d[0] &= mask26
	d[2] += d[1] >> 26
	d[1] &= mask26
	d[3] += d[2] >> 26
	d[2] &= mask26
	d[4] += d[3] >> 26
	d[3] &= mask26
	d[0] += 5 * (d[4] >> 26)
	d[4] &= mask26
	d[1] += d[0] >> 26
	d[0] &= mask26
	return poly26(d)
}

// from26 returns the value of l (limbs below 2^32) as a radix-2^64
// accumulator, adding the limbs' shifted pieces with carries.
func from26(l poly26) [3]uint64 {
	var lo, mid, hi, c uint64
	lo, c = bits.Add64(l[0], l[1]<<26, 0)
	mid += c
	lo, c = bits.Add64(lo, l[2]<<52, 0)
	mid, c = bits.Add64(mid, l[2]>>12, c)
	hi += c
	mid, c = bits.Add64(mid, l[3]<<14, 0)
	hi += c
	mid, c = bits.Add64(mid, l[4]<<40, 0)
	hi += c + l[4]>>24
	return [3]uint64{lo, mid, hi}
}

// polyPowerLane says which lane of the assembly each power of r goes to.
// Lane k holds block {0, 4, 1, 5, 2, 6, 3, 7}[k] of eight (an effect of how
// the assembly unpacks the message), so r^i goes to the lane holding
// block 8-i.
var polyPowerLane = [9]int{1: 7, 2: 5, 3: 3, 4: 1, 5: 6, 6: 4, 7: 2, 8: 0}

// polyPowers fills the table poly1305Blocks8AVX512 reads (layout in
// _asm/poly.go): r^8 and 5*r^8, then for each lane the power that lines
// its block up with the last (block b of a group of eight needs r^(8-b)),
// and five times that. The powers come from the scalar multiplication,
// six 64-bit products each where radix 2^26 takes twenty-five.
func polyPowers(t *[90]uint64, r0, r1 uint64) {
	h0, h1, h2 := r0, r1, uint64(0)
	for i := 1; i <= 8; i++ {
		if i > 1 {
			h0, h1, h2 = polyMulR(h0, h1, h2, r0, r1)
		}
		p := to26(h0, h1, h2)
		l := polyPowerLane[i]
		t[10+l], t[18+l], t[26+l], t[34+l], t[42+l] = p[0], p[1], p[2], p[3], p[4]
		t[50+l], t[58+l], t[66+l], t[74+l], t[82+l] = 5*p[0], 5*p[1], 5*p[2], 5*p[3], 5*p[4]
		if i == 8 {
			t[0], t[1], t[2], t[3], t[4] = p[0], p[1], p[2], p[3], p[4]
			t[5], t[6], t[7], t[8], t[9] = 5*p[0], 5*p[1], 5*p[2], 5*p[3], 5*p[4]
		}
	}
}

// polyPowerLane4 is polyPowerLane for the four-lane AVX2 code, whose lanes
// hold blocks 0, 2, 1, 3: r^i goes to the lane holding block 4-i.
var polyPowerLane4 = [5]int{1: 3, 2: 1, 3: 2, 4: 0}

// polyPowers4 fills the table poly1305Blocks4AVX2 reads (layout in
// _asm/poly.go): r^4 and 5*r^4 in every lane, then each lane's power and
// five times that. AVX2 has no broadcast operands, hence the copies.
func polyPowers4(t *[80]uint64, r0, r1 uint64) {
	h0, h1, h2 := r0, r1, uint64(0)
	for i := 1; i <= 4; i++ {
		if i > 1 {
			h0, h1, h2 = polyMulR(h0, h1, h2, r0, r1)
		}
		p := to26(h0, h1, h2)
		l := polyPowerLane4[i]
		for j := range 5 {
			t[40+4*j+l] = p[j]
			t[60+4*j+l] = 5 * p[j]
			if i == 4 {
				for lane := range 4 {
					t[4*j+lane] = p[j]
					t[20+4*j+lane] = 5 * p[j]
				}
			}
		}
	}
}
