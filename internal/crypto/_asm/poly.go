package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Layout of the powers table poly1305Blocks8AVX512 reads, in uint64s; the
// Go side (polyPowers in poly1305.go) fills it. Limbs are 26 bits.
const (
	polyR8    = 0  // 5 limbs of r^8, broadcast to every lane
	polyS8    = 5  // 5*limb j of r^8 at polyS8+j, j = 1..4 (j = 0 unused)
	polyLaneR = 10 // limb j of the lane powers at polyLaneR+8j+lane
	polyLaneS = 50 // 5*limb j of the lane powers at polyLaneS+8j+lane
)

// Layout of the table poly1305Blocks4AVX2 reads (polyPowers4): AVX2 has no
// broadcast operands, so r^4 is stored once per lane too.
const (
	poly4R4    = 0  // limb j of r^4 at poly4R4+4j+lane
	poly4S4    = 20 // 5*limb j of r^4 at poly4S4+4j+lane
	poly4LaneR = 40 // limb j of the lane powers at poly4LaneR+4j+lane
	poly4LaneS = 60 // 5*limb j of the lane powers at poly4LaneS+4j+lane
)

// polyISA is what differs between the two Poly1305 widths: registers,
// lane count, and the EVEX or VEX forms of the same instructions.
type polyISA struct {
	name, sig, isa string
	lanes          int
	v              []VecPhysical // at least 16 vector registers
	bcst           bool          // loop powers are broadcast operands
	and, or        func(a, b, dst Op)
	mov, load      func(src, dst Op)
}

var polyAVX512 = polyISA{
	name: "poly1305Blocks8AVX512", sig: "func(acc *[40]uint64, msg *byte, groups int, powers *[90]uint64)",
	isa: "AVX-512F", lanes: 8, v: zmm[:], bcst: true,
	and: func(a, b, dst Op) { VPANDQ(a, b, dst) }, or: func(a, b, dst Op) { VPORQ(a, b, dst) },
	mov: func(src, dst Op) { VMOVDQA64(src, dst) }, load: func(src, dst Op) { VMOVDQU64(src, dst) },
}

var polyAVX2 = polyISA{
	name: "poly1305Blocks4AVX2", sig: "func(acc *[20]uint64, msg *byte, groups int, powers *[80]uint64)",
	isa: "AVX2", lanes: 4, v: ymm[:], bcst: false,
	and: func(a, b, dst Op) { VPAND(a, b, dst) }, or: func(a, b, dst Op) { VPOR(a, b, dst) },
	mov: func(src, dst Op) { VMOVDQA(src, dst) }, load: func(src, dst Op) { VMOVDQU(src, dst) },
}

// poly1305Blocks emits a multi-lane Poly1305 in radix 2^26: lane l
// accumulates every lanes-th 16-byte block as H = H*r^lanes + M, and a
// last multiplication by per-lane powers r^lanes..r^1 lines the lanes up
// so that their sum is the polynomial of all the blocks. The Go side adds
// the lanes, finishes the leftover blocks and the tag with 64-bit limbs.
//
// Products are VPMULUDQ of 32-bit halves: limbs stay below 2^28 and the
// 5*r limbs below 2^29, so each 64-bit lane sums five products below 2^58.
// Sixteen registers suffice: H, D (the product), two temporaries, the
// mask; the message limbs reuse D once the product is folded into H.
func poly1305Blocks(p polyISA, consts Mem) {
	TEXT(p.name, NOSPLIT, p.sig)
	Pragma("noescape")
	group := 16 * p.lanes
	Doc(
		fmt.Sprintf("%s evaluates the Poly1305 polynomial of groups*%d", p.name, group),
		"bytes of msg (full 16-byte blocks, each with its 2^128 bit) over "+fmt.Sprint(p.lanes),
		"lanes and stores the lane values, 5 limbs of 26 bits each, in acc (limb",
		fmt.Sprintf("j of lane l at acc[%dj+l]). groups must be at least 1. It requires", p.lanes),
		p.isa+".",
	)
	acc := Load(Param("acc"), GP64())
	msg := Load(Param("msg"), GP64())
	groups := Load(Param("groups"), GP64())
	pw := Load(Param("powers"), GP64())

	h := p.v[0:5]
	d := p.v[5:10]
	t, t2, mask := p.v[10], p.v[11], p.v[12]
	width := 8 * p.lanes       // bytes per vector
	VPBROADCASTQ(consts, mask) // 2^26-1
	hibit := consts.Offset(8)  // 2^24, the 2^128 bit of limb 4
	for _, r := range h {
		VPXOR(r.AsY(), r.AsY(), r.AsY()) // also clears the upper half of a ZMM
	}

	var rLoop, sLoop, rLane, sLane func(int) Mem
	if p.bcst {
		rLoop = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyR8 + j)} }
		sLoop = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyS8 + j)} }
		rLane = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyLaneR + 8*j)} }
		sLane = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (polyLaneS + 8*j)} }
	} else {
		rLoop = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (poly4R4 + 4*j)} }
		sLoop = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (poly4S4 + 4*j)} }
		rLane = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (poly4LaneR + 4*j)} }
		sLane = func(j int) Mem { return Mem{Base: pw, Disp: 8 * (poly4LaneS + 4*j)} }
	}

	loop := p.name + "_loop"
	Label(loop)
	Comment("H = H*r^lanes, then add the next blocks.")
	mulReduce(p, h, d, t, t2, mask, rLoop, sLoop, p.bcst)

	// The unpacks interleave the two loads within 128-bit lanes: for eight
	// lanes the blocks come out as 0,4,1,5,2,6,3,7, for four as 0,2,1,3
	// (the Go side orders the lane powers to match).
	a, b := d[3], d[4]
	p.load(Mem{Base: msg}, a)
	p.load(Mem{Base: msg, Disp: width}, b)
	lo, hi := t, t2
	VPUNPCKLQDQ(b, a, lo)
	VPUNPCKHQDQ(b, a, hi)
	m := d
	p.and(lo, mask, m[0])
	VPSRLQ(U8(26), lo, m[1])
	p.and(m[1], mask, m[1])
	VPSRLQ(U8(52), lo, m[2])
	VPSLLQ(U8(12), hi, m[3])
	p.or(m[3], m[2], m[2])
	p.and(m[2], mask, m[2])
	VPSRLQ(U8(14), hi, m[3])
	p.and(m[3], mask, m[3])
	VPSRLQ(U8(40), hi, m[4])
	if p.bcst {
		VPORQ_BCST(hibit, m[4], m[4])
	} else {
		VPBROADCASTQ(hibit, lo)
		VPOR(lo, m[4], m[4])
	}
	for i := range h {
		VPADDQ(m[i], h[i], h[i])
	}

	ADDQ(U32(2*width), msg)
	DECQ(groups)
	JNZ(LabelRef(loop))

	Comment("Multiply each lane by its own power and store the lanes.")
	mulReduce(p, h, d, t, t2, mask, rLane, sLane, false)
	for i, r := range h {
		p.load(r, Mem{Base: acc, Disp: width * i})
	}
	VZEROUPPER()
	RET()
}

// mulReduce sets h to h*r mod 2^130-5, partially reduced: limbs below 2^26
// but for h[1] and h[4], below 2^26+2^9. r(j) and s(j) = 5*r(j) are memory
// operands, scalars broadcast to every lane when bcst, else one value per
// lane.
func mulReduce(p polyISA, h, d []VecPhysical, t, t2, mask VecPhysical, r, s func(int) Mem, bcst bool) {
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
		p.and(d[from], mask, d[from])
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
		p.mov(d[i], h[i])
	}
}
