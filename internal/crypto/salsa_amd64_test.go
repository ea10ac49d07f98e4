//go:build amd64 && gc && !purego

package crypto

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/salsa20/salsa"
)

// implementations lists the code paths of this build: the assembly when
// the CPU has AVX2 and the generic fallback, which amd64 machines without
// AVX2 (and the purego tag) run.
func implementations(t *testing.T) []string {
	if !useAVX2 {
		t.Log("no AVX2 on this CPU: only the generic path is tested")
		return []string{"generic"}
	}
	return []string{"asm", "generic"}
}

// useImplementation switches the package to the named path until the end
// of the test.
func useImplementation(t *testing.T, name string) {
	oldAVX2, oldH := useAVX2, useHSalsa20Asm
	t.Cleanup(func() { useAVX2, useHSalsa20Asm = oldAVX2, oldH })
	asm := name == "asm"
	useAVX2, useHSalsa20Asm = asm, asm
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
	if !useAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
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
