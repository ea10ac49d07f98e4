package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// hsalsa20 emits HSalsa20 on general-purpose registers: one block has no
// lanes to spread over vectors, and scalar ADD/ROL/XOR run four per cycle
// with a rotate that is one instruction. 13 registers hold words, R15 is the
// temporary; the other three words wait on the stack (see allocator).
func hsalsa20(sigma Mem) {
	TEXT("hsalsa20", NOSPLIT, "func(out *[32]byte, nonce *[16]byte, key *[32]byte)")
	Pragma("noescape")
	Doc(
		"hsalsa20 sets out to HSalsa20(key, nonce) with the Salsa20 constants:",
		"the subkey of XSalsa20 and of NaCl's crypto_box_beforenm.",
	)
	frame := AllocLocal(2 * 64)
	in := func(w int) Mem { return frame.Offset(4 * w) }
	x := func(w int) Mem { return frame.Offset(64 + 4*w) }

	Comment("Copy the input block to the stack so that no pointer stays live.")
	nonce := Load(Param("nonce"), R14)
	key := Load(Param("key"), R13)
	for w := 0; w < 16; w++ {
		var m Mem
		switch w {
		case 0, 5, 10, 15:
			m = sigma.Offset(4 * (w / 5))
		case 1, 2, 3, 4:
			m = Mem{Base: key, Disp: 4 * (w - 1)}
		case 11, 12, 13, 14:
			m = Mem{Base: key, Disp: 16 + 4*(w-11)}
		default:
			m = Mem{Base: nonce, Disp: 4 * (w - 6)}
		}
		MOVL(m, R15L)
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

	Comment("The output is words 0, 5, 10, 15, 6, 7, 8, 9, without the feed-forward.")
	Load(Param("out"), R15)
	for i, w := range []int{0, 5, 10, 15, 6, 7, 8, 9} {
		r, ok := a.resident(w)
		if !ok {
			// A word that is no output is dead: borrow its register.
			s := a.deadSlot([]int{0, 5, 10, 15, 6, 7, 8, 9})
			r = a.regs[s]
			MOVL(a.home(w), r)
			a.owner[s] = -2
		}
		MOVL(r, Mem{Base: R15, Disp: 4 * i})
	}
	RET()
}
