//go:build amd64 && gc && !purego

package crypto

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	//lint:ignore SA1019 octez's box is NaCl crypto_box, which needs raw (H)Salsa20 core; it is used only inside that construction, as x/crypto's own nacl/box does.
	"golang.org/x/crypto/salsa20/salsa"
	"golang.org/x/sys/cpu"
)

// kernels maps the implementation names the tests use to their kernels.
var kernels = map[string]salsaKernel{
	"generic":   kernelGeneric,
	"avx2":      kernelAVX2,
	"avx512vl8": kernelAVX512VL,
	"avx512x16": kernelAVX512,
}

// implementations lists the code paths this CPU can run: the generic
// fallback (what amd64 without AVX2 and the purego tag run) and each
// assembly kernel it supports.
func implementations(t *testing.T) []string {
	impls := []string{"generic"}
	if cpu.X86.HasAVX2 {
		impls = append(impls, "avx2")
	} else {
		t.Log("no AVX2 on this CPU: the assembly Salsa20 is not tested")
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		impls = append(impls, "avx512vl8", "avx512x16")
	} else {
		t.Log("no AVX-512VL on this CPU: its Salsa20 kernels are not tested")
	}
	return impls
}

// useImplementation switches the package to the named path until the end
// of the test. Tests that call it must not run in parallel.
func useImplementation(t *testing.T, name string) {
	oldK, oldS, oldP := kernel, useScalarAsm, poly
	t.Cleanup(func() { kernel, useScalarAsm, poly = oldK, oldS, oldP })
	kernel = kernels[name]
	useScalarAsm = name != "generic"
	poly = map[string]polyKernel{"avx2": polyAVX2, "avx512x16": polyAVX512}[name] // else scalar
}

func TestHSalsa20Asm(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for range 1000 {
		var key, want, got [32]byte
		var nonce [16]byte
		fill(rng, key[:])
		fill(rng, nonce[:])
		salsa.HSalsa20(&want, &nonce, &key, &salsa.Sigma)
		hsalsa20(&got, &nonce, &key)
		require.Equal(t, want, got)
	}
}

func TestSalsa20BlockAsm(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{6}))
	for i := range 1000 {
		var key [32]byte
		var counter [16]byte
		fill(rng, key[:])
		fill(rng, counter[:])
		if i%2 == 0 {
			clear(counter[8:]) // block 0, the one the package asks for
		}
		var want, got [64]byte
		ref := counter
		salsa.XORKeyStream(want[:], make([]byte, 64), &ref, &key)
		salsa20Block(&got, &counter, &key)
		require.Equal(t, want, got)
	}
}

// Each multi-block kernel against x/crypto's Salsa20 for 1..5 passes,
// starting counters that are multiples of the blocks per pass, including
// ones whose low 32 bits or whole 64 bits wrap between two passes, with
// output in place and apart.
func TestSalsa20Kernels(t *testing.T) {
	tested := 0
	for _, name := range implementations(t) {
		k := kernels[name]
		if k == kernelGeneric {
			continue
		}
		tested++
		t.Run(name, func(t *testing.T) { testKernel(t, k) })
	}
	if tested == 0 {
		t.Skip("no AVX2 on this CPU")
	}
}

func testKernel(t *testing.T, k salsaKernel) {
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	n := uint64(k.group() / 64)                                                      // blocks per pass: starts must be multiples
	for _, start := range []uint64{0, n, 1 << 20, 1<<32 - 2*n, 1<<32 - n, 0 - 2*n} { // 0-2n wraps the whole 64-bit counter
		for groups := 1; groups <= 5; groups++ {
			var key [32]byte
			var counter [16]byte
			fill(rng, key[:])
			fill(rng, counter[:8])
			binary.LittleEndian.PutUint64(counter[8:], start)
			src := make([]byte, k.group()*groups)
			fill(rng, src)

			want := make([]byte, len(src))
			ref := counter
			salsa.XORKeyStream(want, src, &ref, &key)

			got := make([]byte, len(src))
			c := counter
			k.run(&got[0], &src[0], groups, &key, &c)
			require.Equal(t, want, got, "start %d groups %d", start, groups)
			require.Equal(t, start+n*uint64(groups), binary.LittleEndian.Uint64(c[8:]))
			require.Equal(t, counter[:8], c[:8], "nonce untouched")

			c = counter
			k.run(&src[0], &src[0], groups, &key, &c)
			require.Equal(t, want, src, "in place, start %d groups %d", start, groups)
		}
	}
}
