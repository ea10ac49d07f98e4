package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// salsaRounds is the Salsa20/20 schedule as quarter rounds (y0, y1, y2, y3):
// ten double rounds of a column round then a row round.
func salsaRounds() [][4]int {
	column := [][4]int{{0, 4, 8, 12}, {5, 9, 13, 1}, {10, 14, 2, 6}, {15, 3, 7, 11}}
	row := [][4]int{{0, 1, 2, 3}, {5, 6, 7, 4}, {10, 11, 8, 9}, {15, 12, 13, 14}}
	var qrs [][4]int
	for range 10 {
		qrs = append(qrs, column...)
		qrs = append(qrs, row...)
	}
	return qrs
}

// salsaRotations are the rotation counts of the four steps of a quarter round.
var salsaRotations = [4]int{7, 9, 13, 18}

// salsa20XORKeyStream8 emits the eight-block AVX2 Salsa20/20: each of the 16
// state words lives in one YMM register as eight lanes, lane i being block
// counter+i, so a quarter round is plain vertical arithmetic.
//
// Sixteen words plus two temporaries do not fit in 16 registers, so the
// rounds are fully unrolled and a generator-side allocator keeps 14 words in
// Y0..Y13, evicting the word whose next use is farthest (Belady's rule,
// exact here because the schedule is static) to an aligned stack area.
//
// With avx512 it emits the same function for AVX-512VL instead (still on
// YMM registers, eight blocks): VPROLD rotates in one instruction and the
// 32 vector registers hold the whole state, so there is nothing to spill.
// The rounds are latency-bound (each step is add, rotate, xor in a chain),
// and the shorter chain is what makes this variant faster.
func salsa20XORKeyStream8(sigma, lanes Mem, avx512 bool) {
	name, isa := "salsa20XORKeyStream8", "AVX2"
	if avx512 {
		name, isa = "salsa20XORKeyStream8AVX512", "AVX-512F and AVX-512VL"
	}
	TEXT(name, 0, "func(dst, src *byte, groups int, key *[32]byte, counter *[16]byte)")
	Pragma("noescape")
	Doc(
		name+" XORs groups*512 bytes of src with the Salsa20/20",
		"keystream of key and counter into dst, eight 64-byte blocks at a time,",
		"and adds 8*groups to the little-endian block counter in counter[8:16].",
		"The block counter must be a multiple of 8 so that the low 32 bits never",
		"wrap inside a group. dst and src must overlap exactly or not at all.",
		"It requires "+isa+".",
	)
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	groups := Load(Param("groups"), GP64())
	key := Load(Param("key"), GP64())
	counter := Load(Param("counter"), GP64())

	// Two 512-byte areas, 32-byte aligned: in holds the eight-lane input
	// block (added back after the rounds), x the spilled and final words.
	frame := AllocLocal(32 + 2*512)
	base := GP64()
	LEAQ(frame, base)
	ADDQ(U32(31), base)
	ANDQ(I32(-32), base)
	in := func(w int) Mem { return Mem{Base: base, Disp: 32 * w} }
	x := func(w int) Mem { return Mem{Base: base, Disp: 512 + 32*w} }

	TESTQ(groups, groups)
	JZ(LabelRef("done"))
	Label("loop")

	Comment("Broadcast the input block; lane i gets block counter+i.")
	for w := 0; w < 16; w++ {
		m := inputWord(w, sigma, key, counter)
		// With AVX-512 the state starts in Y0..Y15; the AVX2 allocator
		// loads it from in as it goes.
		r := Y0
		if avx512 {
			r = ymm[w]
		}
		VPBROADCASTD(m, r)
		if w == 8 {
			VPADDD(lanes, r, r)
		}
		VMOVDQA(r, in(w))
	}

	if avx512 {
		rounds512(in, x)
	} else {
		rounds2(in, x)
	}

	Comment("Transpose to blocks and XOR into dst: words 0-7 then 8-15.")
	Comment("Transpose to blocks and XOR into dst: words 0-7 then 8-15.")
	for h := 0; h < 2; h++ {
		lo := [4]VecPhysical{Y0, Y1, Y2, Y3}
		hi := [4]VecPhysical{Y4, Y5, Y6, Y7}
		for j := 0; j < 4; j++ {
			VMOVDQA(x(8*h+j), lo[j])
			VMOVDQA(x(8*h+4+j), hi[j])
		}
		transpose4(lo[:], []VecPhysical{Y8, Y9, Y10, Y11})
		transpose4(hi[:], []VecPhysical{Y12, Y13, Y14, Y15})
		for j := 0; j < 4; j++ {
			// lo[j] and hi[j] hold block j in their low 128 bits and
			// block j+4 in their high 128 bits.
			for k, sel := range []uint8{0x20, 0x31} {
				off := 64*(j+4*k) + 32*h
				VPERM2I128(U8(sel), hi[j], lo[j], Y8)
				VPXOR(Mem{Base: src, Disp: off}, Y8, Y8)
				VMOVDQU(Y8, Mem{Base: dst, Disp: off})
			}
		}
	}

	ADDQ(U8(8), Mem{Base: counter, Disp: 8})
	ADDQ(U32(512), src)
	ADDQ(U32(512), dst)
	DECQ(groups)
	JNZ(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}

// inputWord is where word w of the Salsa20 input block comes from: the
// constants, the key, or the 16 bytes of nonce and block counter.
func inputWord(w int, sigma Mem, key, counter Register) Mem {
	switch w {
	case 0, 5, 10, 15:
		return sigma.Offset(4 * (w / 5))
	case 1, 2, 3, 4:
		return Mem{Base: key, Disp: 4 * (w - 1)}
	case 11, 12, 13, 14:
		return Mem{Base: key, Disp: 16 + 4*(w-11)}
	default: // 6, 7 nonce; 8, 9 block counter
		return Mem{Base: counter, Disp: 4 * (w - 6)}
	}
}

// transpose4 transposes the 4x4 dword matrix in each 128-bit half of r
// (row i = word i of four blocks) so that r[j] holds the four words of
// block j; t are scratch registers.
func transpose4(r, t []VecPhysical) {
	VPUNPCKLDQ(r[1], r[0], t[0])
	VPUNPCKHDQ(r[1], r[0], t[1])
	VPUNPCKLDQ(r[3], r[2], t[2])
	VPUNPCKHDQ(r[3], r[2], t[3])
	VPUNPCKLQDQ(t[2], t[0], r[0])
	VPUNPCKHQDQ(t[2], t[0], r[1])
	VPUNPCKLQDQ(t[3], t[1], r[2])
	VPUNPCKHQDQ(t[3], t[1], r[3])
}

var ymm = [16]VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

func regs[R Register](rs []R) []Register {
	out := make([]Register, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

// rounds2 emits the twenty AVX2 rounds and leaves input plus output of
// every word in x.
func rounds2(in, x func(int) Mem) {
	Comment("Twenty rounds, fully unrolled.")
	a := newAllocator(regs(ymm[:14]), func(src, dst Op) { VMOVDQA(src, dst) }, in, x)
	qrs := salsaRounds()
	for i, q := range qrs {
		a.ensure(q, qrs[i+1:])
		y := [4]Register{a.reg(q[0]), a.reg(q[1]), a.reg(q[2]), a.reg(q[3])}
		for step, r := range salsaRotations {
			// y[step+1] ^= rotl(y[step] + y[step+3], r), indices mod 4.
			s, t, u := y[step], y[(step+1)%4], y[(step+3)%4]
			VPADDD(s, u, Y14)
			VPSLLD(U8(r), Y14, Y15)
			VPSRLD(U8(32-r), Y14, Y14)
			VPXOR(Y15, t, t)
			VPXOR(Y14, t, t)
		}
		a.modified(q)
	}

	Comment("Add the input block; keep the result in x.")
	for w := 0; w < 16; w++ {
		r, ok := a.resident(w)
		if !ok {
			r = Y14
			VMOVDQA(a.home(w), r)
		}
		VPADDD(in(w), r, r)
		VMOVDQA(r, x(w))
	}
}

// rounds512 emits the twenty AVX-512VL rounds on Y0..Y15 (word w in Yw),
// the four independent quarter rounds of each round interleaved step by
// step with one temporary each in Y16..Y19, and leaves input plus output
// of every word in x.
func rounds512(in, x func(int) Mem) {
	Comment("Twenty rounds, fully unrolled.")
	qrs := salsaRounds()
	tmp := [4]VecPhysical{Y16, Y17, Y18, Y19}
	for round := 0; round < len(qrs); round += 4 {
		for step, r := range salsaRotations {
			for k, q := range qrs[round : round+4] {
				s, t, u := ymm[q[step]], ymm[q[(step+1)%4]], ymm[q[(step+3)%4]]
				VPADDD(s, u, tmp[k])
				VPROLD(U8(r), tmp[k], tmp[k])
				VPXORD(tmp[k], t, t)
			}
		}
	}

	Comment("Add the input block; keep the result in x.")
	for w := 0; w < 16; w++ {
		VPADDD(in(w), ymm[w], ymm[w])
		VMOVDQA(ymm[w], x(w))
	}
}
