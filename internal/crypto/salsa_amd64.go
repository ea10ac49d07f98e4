//go:build amd64 && gc && !purego

package crypto

import (
	"crypto/subtle"

	"golang.org/x/sys/cpu"
)

//go:generate go -C _asm run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto

// useAVX2 selects the eight-block Salsa20 (salsa_amd64.s); without it the
// generic code runs. useAVX512 selects the variant of the same function
// that rotates with VPROLD and keeps the state in 32 registers (still
// eight blocks on YMM registers, so no 512-bit frequency licence). The
// scalar HSalsa20 needs only base amd64, so useHSalsa20Asm is always true
// outside tests that exercise the fallback. x/sys/cpu checks that the OS
// saves the wider register state too.
var (
	useAVX2        = cpu.X86.HasAVX2
	useAVX512      = cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
	useHSalsa20Asm = true
)

// salsa8 runs the best eight-block kernel of this CPU; useAVX2 must be set.
func salsa8(dst, src *byte, groups int, key *[32]byte, counter *[16]byte) {
	if useAVX512 {
		salsa20XORKeyStream8AVX512(dst, src, groups, key, counter)
		return
	}
	salsa20XORKeyStream8(dst, src, groups, key, counter)
}

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
	salsa8(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
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
		salsa8(&dst[0], &src[0], full/keyStreamMax, &s.subKey, &s.counter)
	}
	if tail := len(src) - full; tail > 0 {
		var ks [keyStreamMax]byte
		salsa8(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
		subtle.XORBytes(dst[full:], src[full:], ks[:tail])
	}
}
