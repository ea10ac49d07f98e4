// Command _asm generates internal/crypto's amd64 assembly with avo:
//
//	cd internal/crypto/_asm && go run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto
//
// It lives in its own module so that the library's go.mod never depends on
// avo; the generated files are committed and a test in the parent package
// checks that they are what this program produces.
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
	poly1305Blocks8()
	Generate()
}
