//go:build amd64 && gc && !purego

package crypto

import (
	"crypto/subtle"

	"golang.org/x/sys/cpu"
)

//go:generate go -C _asm run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto

// useAVX2 selects the eight-block Salsa20 (salsa_amd64.s); without it the
// generic code runs. The scalar HSalsa20 needs only base amd64, so
// useHSalsa20Asm is always true outside tests that exercise the fallback.
var (
	useAVX2        = cpu.X86.HasAVX2
	useHSalsa20Asm = true
)

func hsalsa20Fast(out *[32]byte, nonce *[16]byte, key *[32]byte) {
	if !useHSalsa20Asm {
		hsalsa20Generic(out, nonce, key)
		return
	}
	hsalsa20(out, nonce, key)
}

// firstKeyStreamFast computes blocks 0..7 in one pass: for small messages
// the eight-lane pass costs about what three single blocks would, and a
// 100-byte chunk already needs three.
func firstKeyStreamFast(s *xsalsa20, ks *[keyStreamMax]byte) int {
	if !useAVX2 {
		return firstKeyStreamGeneric(s, ks)
	}
	salsa20XORKeyStream8(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
	return keyStreamMax
}

// xorKeyStreamFast XORs src into dst from the current block counter, which
// must be a multiple of 8 (it is after firstKeyStreamFast). dst and src must
// overlap exactly or not at all.
func xorKeyStreamFast(s *xsalsa20, dst, src []byte) {
	if !useAVX2 {
		xorKeyStreamGeneric(s, dst, src)
		return
	}
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1] // the assembly writes len(src) bytes of dst
	full := len(src) &^ (keyStreamMax - 1)
	if full > 0 {
		salsa20XORKeyStream8(&dst[0], &src[0], full/keyStreamMax, &s.subKey, &s.counter)
	}
	if tail := len(src) - full; tail > 0 {
		var ks [keyStreamMax]byte
		salsa20XORKeyStream8(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
		subtle.XORBytes(dst[full:], src[full:], ks[:tail])
	}
}
