//go:build amd64 && gc && !purego

package crypto

import (
	"crypto/subtle"

	"golang.org/x/sys/cpu"
)

//go:generate go -C _asm run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto

// salsaKernel names one of the multi-block Salsa20 implementations of
// salsa_amd64.s, or the generic code.
type salsaKernel int

const (
	kernelGeneric  salsaKernel = iota
	kernelAVX2                 // eight blocks on YMM, shifts for rotations, spills
	kernelAVX512VL             // eight blocks on YMM, VPROLD, no spills
	kernelAVX512               // sixteen blocks on ZMM, VPROLD
)

// bestKernel picks the widest kernel the CPU and OS support (x/sys/cpu
// checks that the OS saves the wider registers). The rounds are a chain of
// dependent add, rotate and xor, so a pass costs about the same whatever
// its width and the widest one wins: on the AMD Zen 5 where this was
// measured, sixteen AVX-512 lanes beat eight (see BenchmarkSeal).
func bestKernel() salsaKernel {
	switch {
	case cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL:
		return kernelAVX512
	case cpu.X86.HasAVX2:
		return kernelAVX2
	}
	return kernelGeneric
}

// kernel is the multi-block Salsa20 in use; useScalarAsm selects the
// scalar assembly HSalsa20 and single block, which need only base amd64.
// Tests switch both to cover every path; nothing else writes them.
var (
	kernel       = bestKernel()
	useScalarAsm = true
)

// group is how many keystream bytes one pass of k produces.
func (k salsaKernel) group() int {
	if k == kernelAVX512 {
		return 1024
	}
	return 512
}

// run XORs groups passes of keystream into dst; k must not be generic.
func (k salsaKernel) run(dst, src *byte, groups int, key *[32]byte, counter *[16]byte) {
	switch k {
	case kernelAVX512:
		salsa20XORKeyStream16AVX512(dst, src, groups, key, counter)
	case kernelAVX512VL:
		salsa20XORKeyStream8AVX512(dst, src, groups, key, counter)
	default:
		salsa20XORKeyStream8(dst, src, groups, key, counter)
	}
}

func hsalsa20Fast(out *[32]byte, nonce *[16]byte, key *[32]byte) {
	if !useScalarAsm {
		hsalsa20Generic(out, nonce, key)
		return
	}
	hsalsa20(out, nonce, key)
}

// firstBlockFast computes block 0 alone on general registers, half the
// time of one vector pass.
func firstBlockFast(s *xsalsa20, b *[64]byte) {
	if !useScalarAsm {
		firstBlockGeneric(s, b)
		return
	}
	salsa20Block(b, &s.counter, &s.subKey)
}

// firstKeyStreamFast computes one kernel pass from block 0: for messages
// past shortMax a pass costs about what two single blocks would.
func firstKeyStreamFast(s *xsalsa20, ks *[keyStreamMax]byte) int {
	k := kernel
	if k == kernelGeneric {
		return firstKeyStreamGeneric(s, ks)
	}
	k.run(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
	return k.group()
}

// xorKeyStreamFast XORs src into dst from the current block counter, which
// must be where firstKeyStreamFast left it. dst and src must overlap
// exactly or not at all. A tail shorter than a pass is XORed from a pass
// into ks.
func xorKeyStreamFast(s *xsalsa20, dst, src []byte, ks *[keyStreamMax]byte) {
	k := kernel
	if k == kernelGeneric {
		xorKeyStreamGeneric(s, dst, src)
		return
	}
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1] // the assembly writes len(src) bytes of dst
	g := k.group()
	full := len(src) - len(src)%g
	if full > 0 {
		k.run(&dst[0], &src[0], full/g, &s.subKey, &s.counter)
	}
	tail := len(src) - full
	switch {
	case tail == 0:
	case tail <= 64 && useScalarAsm:
		// One block on general registers, half the time of a pass (a
		// 1 KiB message needs 32 bytes past the first pass). The counter
		// is left behind: nothing follows the tail.
		var b [64]byte
		salsa20Block(&b, &s.counter, &s.subKey)
		subtle.XORBytes(dst[full:], src[full:], b[:tail])
	default:
		k.run(&ks[0], &zeros[0], 1, &s.subKey, &s.counter)
		subtle.XORBytes(dst[full:], src[full:], ks[:tail])
	}
}
