package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Layout of the powers table poly1305Blocks8AVX512 reads, in uint64s; the
// Go side (poly1305_amd64.go) fills it. Limbs are 26 bits.
const (
	polyR8      = 0  // 5 limbs of r^8, broadcast to every lane
	polyS8      = 5  // 5*limb j of r^8 at polyS8+j, j = 1..4 (j = 0 unused)
	polyLaneR   = 10 // limb j of the lane powers at polyLaneR+8j+lane
	polyLaneS   = 50 // 5*limb j of the lane powers at polyLaneS+8j+lane
	polyEntries = 90
)

// poly1305Blocks8 emits an eight-lane Poly1305 on AVX-512F in radix 2^26:
// lane l accumulates every eighth 16-byte block as H = H*r^8 + M, and a
// last multiplication by per-lane powers r^8..r^1 lines the lanes up so
// that their sum is the polynomial of all the blocks. The Go side adds
// the lanes, finishes the leftover blocks and the tag with 64-bit limbs.
//
// Products are VPMULUDQ of 32-bit halves: limbs stay below 2^28 and the
// 5*r limbs below 2^29, so each 64-bit lane sums five products below 2^57.
func poly1305Blocks8() {
	TEXT("poly1305Blocks8AVX512", NOSPLIT, "func(acc *[40]uint64, msg *byte, groups int, powers *[90]uint64)")
	Pragma("noescape")
	Doc(
		"poly1305Blocks8AVX512 evaluates the Poly1305 polynomial of groups*128",
		"bytes of msg (full 16-byte blocks, each with its 2^128 bit) over eight",
		"lanes and stores the eight lane values, 5 limbs of 26 bits each, in acc",
		"(limb j of lane l at acc[8j+l]). groups must be at least 1. It requires",
		"AVX-512F.",
	)
	acc := Load(Param("acc"), GP64())
	msg := Load(Param("msg"), GP64())
	groups := Load(Param("groups"), GP64())
	pw := Load(Param("powers"), GP64())

	h := zmm[0:5]
	d := zmm[5:10]
	t, t2 := Z10, Z19
	mask, hibit := Z11, Z20
	m := zmm[12:17]
	a, b := Z17, Z18

	tmp := GP64()
	MOVQ(U32(1<<26-1), tmp)
	VPBROADCASTQ(tmp, mask)
	MOVQ(U32(1<<24), tmp)
	VPBROADCASTQ(tmp, hibit)
	for _, r := range h {
		VPXORQ(r, r, r)
	}

	Label("polyloop")
	Comment("H = H*r^8, then add the next eight blocks.")
	mulReduce(h, d, t, t2, mask, func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyR8 + j)} },
		func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyS8 + j)} }, true)

	// Lane order after the unpacks: blocks 0,4,1,5,2,6,3,7 (the Go side
	// orders the lane powers to match).
	VMOVDQU64(Mem{Base: msg}, a)
	VMOVDQU64(Mem{Base: msg, Disp: 64}, b)
	lo, hi := t, t2
	VPUNPCKLQDQ(b, a, lo)
	VPUNPCKHQDQ(b, a, hi)
	VPANDQ(lo, mask, m[0])
	VPSRLQ(U8(26), lo, m[1])
	VPANDQ(m[1], mask, m[1])
	VPSRLQ(U8(52), lo, m[2])
	VPSLLQ(U8(12), hi, a)
	VPORQ(a, m[2], m[2])
	VPANDQ(m[2], mask, m[2])
	VPSRLQ(U8(14), hi, m[3])
	VPANDQ(m[3], mask, m[3])
	VPSRLQ(U8(40), hi, m[4])
	VPORQ(hibit, m[4], m[4])
	for i := range h {
		VPADDQ(m[i], h[i], h[i])
	}

	ADDQ(U32(128), msg)
	DECQ(groups)
	JNZ(LabelRef("polyloop"))

	Comment("Multiply each lane by its own power and store the lanes.")
	mulReduce(h, d, t, t2, mask, func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyLaneR + 8*j)} },
		func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyLaneS + 8*j)} }, false)
	for i, r := range h {
		VMOVDQU64(r, Mem{Base: acc, Disp: 64 * i})
	}
	VZEROUPPER()
	RET()
}

// mulReduce sets h to h*r mod 2^130-5, partially reduced: limbs below 2^26
// but for h[1], below 2^26+2^9. r(j) and s(j) = 5*r(j) are memory operands,
// scalars broadcast to every lane when bcst, else one value per lane.
func mulReduce(h, d []VecPhysical, t, t2, mask VecPhysical, r, s func(int) Mem, bcst bool) {
	mul := func(mem Mem, x, dst VecPhysical) {
		if bcst {
			VPMULUDQ_BCST(mem, x, dst)
		} else {
			VPMULUDQ(mem, x, dst)
		}
	}
	// d[k] = sum over i of h[i] * (r[k-i] if i <= k else s[k-i+5]).
	for k := 0; k < 5; k++ {
		for i := 0; i < 5; i++ {
			var op Mem
			if j := k - i; j >= 0 {
				op = r(j)
			} else {
				op = s(j + 5)
			}
			if i == 0 {
				mul(op, h[i], d[k])
			} else {
				mul(op, h[i], t)
				VPADDQ(t, d[k], d[k])
			}
		}
	}
	// Carries in two interleaved chains (0→1→2→3, 3→4→0×5→1).
	carry := func(from, to int, times5 bool) {
		VPSRLQ(U8(26), d[from], t)
		VPANDQ(d[from], mask, d[from])
		if times5 {
			VPSLLQ(U8(2), t, t2)
			VPADDQ(t2, t, t)
		}
		VPADDQ(t, d[to], d[to])
	}
	carry(0, 1, false)
	carry(3, 4, false)
	carry(1, 2, false)
	carry(4, 0, true)
	carry(2, 3, false)
	carry(0, 1, false)
	carry(3, 4, false)
	for i := range h {
		VMOVDQA64(d[i], h[i])
	}
}
