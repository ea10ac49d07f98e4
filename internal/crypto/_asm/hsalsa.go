package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// hsalsa20 emits HSalsa20: twenty rounds over the input block, output
// words 0, 5, 10, 15, 6, 7, 8, 9 without the feed-forward.
func hsalsa20(sigma Mem) {
	TEXT("hsalsa20", NOSPLIT, "func(out *[32]byte, nonce *[16]byte, key *[32]byte)")
	Pragma("noescape")
	Doc(
		"hsalsa20 sets out to HSalsa20(key, nonce) with the Salsa20 constants:",
		"the subkey of XSalsa20 and of NaCl's crypto_box_beforenm.",
	)
	scalarCore(sigma, "nonce", []int{0, 5, 10, 15, 6, 7, 8, 9}, false)
}

// salsa20Block emits one Salsa20/20 block: the rounds, then all sixteen
// words with the input added back.
func salsa20Block(sigma Mem) {
	TEXT("salsa20Block", NOSPLIT, "func(out *[64]byte, counter *[16]byte, key *[32]byte)")
	Pragma("noescape")
	Doc(
		"salsa20Block sets out to the Salsa20/20 keystream block of key and",
		"counter (8 nonce bytes then the little-endian block counter).",
		"One block on general registers takes half the time of one pass of the",
		"vector kernels, so it serves messages that need no more keystream.",
	)
	scalarCore(sigma, "counter", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, true)
}

// scalarCore emits one Salsa20 core on general-purpose registers: one
// block has no lanes to spread over vectors, and scalar ADD/ROL/XOR run
// several per cycle with a rotate that is one instruction. 13 registers
// hold words and R15 is the temporary; the other three words wait on the
// stack (see allocator). The 16 input bytes after the key come from the
// parameter named inName.
func scalarCore(sigma Mem, inName string, outWords []int, feedForward bool) {
	frame := AllocLocal(2 * 64)
	in := func(w int) Mem { return frame.Offset(4 * w) }
	x := func(w int) Mem { return frame.Offset(64 + 4*w) }

	Comment("Copy the input block to the stack so that no pointer stays live.")
	nonce := Load(Param(inName), R14)
	key := Load(Param("key"), R13)
	for w := 0; w < 16; w++ {
		MOVL(inputWord(w, sigma, key, nonce), R15L)
		MOVL(R15L, in(w))
	}

	Comment("Twenty rounds, fully unrolled.")
	gp := []Register{EAX, EBX, ECX, EDX, ESI, EDI, R8L, R9L, R10L, R11L, R12L, R13L, R14L}
	a := newAllocator(gp, func(src, dst Op) { MOVL(src, dst) }, in, x)
	qrs := salsaRounds()
	for i, q := range qrs {
		a.ensure(q, qrs[i+1:])
		y := [4]Register{a.reg(q[0]), a.reg(q[1]), a.reg(q[2]), a.reg(q[3])}
		for step, r := range salsaRotations {
			s, t, u := y[step], y[(step+1)%4], y[(step+3)%4]
			LEAL(Mem{Base: s.(GPPhysical).As64(), Index: u.(GPPhysical).As64(), Scale: 1}, R15L)
			ROLL(U8(r), R15L)
			XORL(R15L, t)
		}
		a.modified(q)
	}

	Comment("Write the output words, those in registers first, which frees a register for the rest.")
	Load(Param("out"), R15)
	var spare Register
	write := func(i, w int, r Register) {
		if feedForward {
			ADDL(in(w), r)
		}
		MOVL(r, Mem{Base: R15, Disp: 4 * i})
	}
	for i, w := range outWords {
		if r, ok := a.resident(w); ok {
			write(i, w, r)
			spare = r
		}
	}
	for i, w := range outWords {
		if _, ok := a.resident(w); !ok {
			MOVL(a.home(w), spare)
			write(i, w, spare)
		}
	}
	RET()
}
