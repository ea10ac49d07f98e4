// Command _asm generates internal/crypto's amd64 assembly with avo:
//
//	cd internal/crypto/_asm && go run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto
//
// (or `go generate` in internal/crypto). It lives in its own module so
// that the library's go.mod never depends on avo; the generated files are
// committed and TestGeneratedAsmUpToDate in the parent package checks that
// they are byte for byte what this program produces.
//
// Functions generated (the doc comments in salsa_amd64_stub.go say more):
//
//	salsa20XORKeyStream8         8 Salsa20 blocks per pass, AVX2
//	salsa20XORKeyStream8AVX512   the same with VPROLD and no spills, AVX-512VL
//	salsa20XORKeyStream16AVX512  16 blocks per pass on ZMM, AVX-512F
//	hsalsa20, salsa20Block       one core on general registers
//	poly1305Blocks8AVX512        8-lane Poly1305 in radix 2^26, AVX-512F
//	poly1305Blocks4AVX2          the same on 4 lanes, AVX2
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

func main() {
	ConstraintExpr("amd64,gc,!purego")

	sigma := GLOBL("salsaSigma", RODATA|NOPTR)
	for i, w := range []uint32{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574} {
		DATA(4*i, U32(w))
	}
	lanes := GLOBL("salsaLanes", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(uint32(i)))
	}

	salsa20XORKeyStream8(sigma, lanes, false)
	salsa20XORKeyStream8(sigma, lanes, true)
	salsa20XORKeyStream16(sigma, lanes)
	hsalsa20(sigma)
	salsa20Block(sigma)
	polyConsts := GLOBL("polyConsts", RODATA|NOPTR)
	DATA(0, U64(1<<26-1))
	DATA(8, U64(1<<24))
	poly1305Blocks(polyAVX512, polyConsts)
	poly1305Blocks(polyAVX2, polyConsts)
	Generate()
}
