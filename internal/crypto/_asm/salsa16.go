package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

var zmm = [32]VecPhysical{
	Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
}

// salsa20XORKeyStream16 emits the sixteen-block AVX-512 Salsa20/20: word w
// of blocks counter..counter+15 in Zw. The rounds are latency-bound (add,
// rotate, xor in a chain), so sixteen lanes cost about the time of eight
// and this doubles throughput on CPUs with full-width 512-bit units.
func salsa20XORKeyStream16(sigma, lanes Mem) {
	TEXT("salsa20XORKeyStream16AVX512", 0, "func(dst, src *byte, groups int, key *[32]byte, counter *[16]byte)")
	Pragma("noescape")
	Doc(
		"salsa20XORKeyStream16AVX512 XORs groups*1024 bytes of src with the",
		"Salsa20/20 keystream of key and counter into dst, sixteen 64-byte blocks",
		"at a time, and adds 16*groups to the little-endian block counter in",
		"counter[8:16]. The block counter must be a multiple of 16 so that the",
		"low 32 bits never wrap inside a group. dst and src must overlap exactly",
		"or not at all. It requires AVX-512F.",
	)
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	groups := Load(Param("groups"), GP64())
	key := Load(Param("key"), GP64())
	counter := Load(Param("counter"), GP64())

	// The sixteen-lane input block, 64-byte aligned, added after the rounds.
	frame := AllocLocal(64 + 1024)
	base := GP64()
	LEAQ(frame, base)
	ADDQ(U32(63), base)
	ANDQ(I32(-64), base)
	in := func(w int) Mem { return Mem{Base: base, Disp: 64 * w} }

	TESTQ(groups, groups)
	JZ(LabelRef("done16"))
	Label("loop16")

	Comment("Broadcast the input block; lane i gets block counter+i.")
	for w := 0; w < 16; w++ {
		VPBROADCASTD(inputWord(w, sigma, key, counter), zmm[w])
		if w == 8 {
			VPADDD(lanes, zmm[w], zmm[w])
		}
		VMOVDQA64(zmm[w], in(w))
	}

	Comment("Twenty rounds, fully unrolled, the four quarter rounds of each interleaved.")
	qrs := salsaRounds()
	tmp := zmm[16:20]
	for round := 0; round < len(qrs); round += 4 {
		for step, r := range salsaRotations {
			for k, q := range qrs[round : round+4] {
				s, t, u := zmm[q[step]], zmm[q[(step+1)%4]], zmm[q[(step+3)%4]]
				VPADDD(s, u, tmp[k])
				VPROLD(U8(r), tmp[k], tmp[k])
				VPXORD(tmp[k], t, t)
			}
		}
	}

	Comment("Add the input block, transpose to blocks, XOR into dst.")
	for w := 0; w < 16; w++ {
		VPADDD(in(w), zmm[w], zmm[w])
	}
	for q := 0; q < 4; q++ {
		// After this, Z(4q+j) holds words 4q..4q+3 of blocks j, j+4, j+8
		// and j+12 in its four 128-bit lanes.
		transpose4(zmm[4*q:4*q+4], zmm[16:20])
	}
	for j := 0; j < 4; j++ {
		a, b, c, d := zmm[j], zmm[4+j], zmm[8+j], zmm[12+j]
		t := zmm[20:24]
		VSHUFI32X4(U8(0x44), b, a, t[0]) // a0 a1 b0 b1
		VSHUFI32X4(U8(0xee), b, a, t[1]) // a2 a3 b2 b3
		VSHUFI32X4(U8(0x44), d, c, t[2]) // c0 c1 d0 d1
		VSHUFI32X4(U8(0xee), d, c, t[3]) // c2 c3 d2 d3
		for lane, sel := range []struct {
			imm    uint8
			lo, hi VecPhysical
		}{{0x88, t[0], t[2]}, {0xdd, t[0], t[2]}, {0x88, t[1], t[3]}, {0xdd, t[1], t[3]}} {
			// lane L of a, b, c, d side by side: block j+4L.
			o := zmm[24+lane]
			off := 64 * (j + 4*lane)
			VSHUFI32X4(U8(sel.imm), sel.hi, sel.lo, o)
			VPXORD(Mem{Base: src, Disp: off}, o, o)
			VMOVDQU64(o, Mem{Base: dst, Disp: off})
		}
	}

	ADDQ(U8(16), Mem{Base: counter, Disp: 8})
	ADDQ(U32(1024), src)
	ADDQ(U32(1024), dst)
	DECQ(groups)
	JNZ(LabelRef("loop16"))

	Label("done16")
	VZEROUPPER()
	RET()
}
