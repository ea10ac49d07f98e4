//go:build amd64 && gc && !purego

package crypto

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/salsa20/salsa"
	"golang.org/x/sys/cpu"
)

// implementations lists the code paths of this build: the assembly when
// the CPU has AVX2 and the generic fallback, which amd64 machines without
// AVX2 (and the purego tag) run.
func implementations(t *testing.T) []string {
	impls := []string{"generic"}
	if cpu.X86.HasAVX2 {
		impls = append(impls, "avx2")
	} else {
		t.Log("no AVX2 on this CPU: the assembly Salsa20 is not tested")
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		impls = append(impls, "avx512")
	} else {
		t.Log("no AVX-512VL on this CPU: its Salsa20 is not tested")
	}
	return impls
}

// useImplementation switches the package to the named path until the end
// of the test. Tests that call it must not run in parallel.
func useImplementation(t *testing.T, name string) {
	old2, old512, oldH := useAVX2, useAVX512, useHSalsa20Asm
	t.Cleanup(func() { useAVX2, useAVX512, useHSalsa20Asm = old2, old512, oldH })
	useAVX2 = name == "avx2" || name == "avx512"
	useAVX512 = name == "avx512"
	useHSalsa20Asm = name != "generic"
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

// The eight-lane core against x/crypto's Salsa20 for 1..5 groups, starting
// counters that are multiples of 8, including one whose low 32 bits wrap
// between two groups, and for in-place and separate output.
func TestSalsa20XORKeyStream8(t *testing.T) {
	kernels := map[string]func(dst, src *byte, groups int, key *[32]byte, counter *[16]byte){}
	for _, impl := range implementations(t) {
		switch impl {
		case "avx2":
			kernels[impl] = salsa20XORKeyStream8
		case "avx512":
			kernels[impl] = salsa20XORKeyStream8AVX512
		}
	}
	if len(kernels) == 0 {
		t.Skip("no AVX2 on this CPU")
	}
	for name, kernel := range kernels {
		t.Run(name, func(t *testing.T) { testKernel8(t, kernel) })
	}
}

func testKernel8(t *testing.T, salsa20XORKeyStream8 func(dst, src *byte, groups int, key *[32]byte, counter *[16]byte)) {
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	for _, start := range []uint64{0, 8, 1 << 20, 1<<32 - 16, 1<<32 - 8, 1<<64 - 16} {
		for groups := 1; groups <= 5; groups++ {
			var key [32]byte
			var counter [16]byte
			fill(rng, key[:])
			fill(rng, counter[:8])
			binary.LittleEndian.PutUint64(counter[8:], start)
			src := make([]byte, 512*groups)
			fill(rng, src)

			want := make([]byte, len(src))
			ref := counter
			salsa.XORKeyStream(want, src, &ref, &key)

			got := make([]byte, len(src))
			c := counter
			salsa20XORKeyStream8(&got[0], &src[0], groups, &key, &c)
			require.Equal(t, want, got, "start %d groups %d", start, groups)
			require.Equal(t, start+8*uint64(groups), binary.LittleEndian.Uint64(c[8:]))
			require.Equal(t, counter[:8], c[:8], "nonce untouched")

			c = counter
			salsa20XORKeyStream8(&src[0], &src[0], groups, &key, &c)
			require.Equal(t, want, src, "in place, start %d groups %d", start, groups)
		}
	}
}
