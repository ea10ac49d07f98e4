package crypto

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/nacl/secretbox"
)

// maxChunkPlain is the largest plaintext of an octez chunk.
const maxChunkPlain = 1<<16 - 1 - TagSize

// testLengths is every length 0..1024, then a spread up to three chunks:
// a prime step (so lengths fall on every residue mod 64 and mod 512) plus
// the edges of the first keystream pass (480 bytes after the Poly1305 key),
// of the eight-block groups and of the chunk size.
func testLengths() []int {
	var ls []int
	for n := 0; n <= 1024; n++ {
		ls = append(ls, n)
	}
	for n := 1025; n <= 3*maxChunkPlain; n += 1013 {
		ls = append(ls, n)
	}
	for _, edge := range []int{480 + 512, 480 + 4096, 480 + 8192, maxChunkPlain, 2 * maxChunkPlain, 3 * maxChunkPlain} {
		ls = append(ls, edge-1, edge, edge+1)
	}
	return ls
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func randomKeyNonce(rng *rand.Rand) (ChannelKey, Nonce) {
	var k ChannelKey
	var n Nonce
	fill(rng, k[:])
	fill(rng, n[:])
	return k, n
}

// TestSecretboxDifferential checks all four functions against
// golang.org/x/crypto/nacl/secretbox for every test length, with a fresh
// random key, nonce and message each time, on every code path.
func TestSecretboxDifferential(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl, func(t *testing.T) {
			useImplementation(t, impl)
			rng := rand.New(rand.NewChaCha8([32]byte{3}))
			pool := make([]byte, 3*maxChunkPlain+1024)
			fill(rng, pool)
			buf := make([]byte, TagSize+len(pool))
			var out []byte
			for _, n := range testLengths() {
				key, nonce := randomKeyNonce(rng)
				off := rng.IntN(64) // vary alignment
				msg := pool[off : off+n]
				want := secretbox.Seal(nil, msg, (*[24]byte)(&nonce), (*[32]byte)(&key))

				out = Seal(out[:0], msg, &nonce, &key)
				require.Equal(t, want, out, "Seal, length %d", n)

				b := buf[:TagSize+n]
				copy(b[TagSize:], msg)
				SealInPlace(b, &nonce, &key)
				require.Equal(t, want, b, "SealInPlace, length %d", n)

				pt, ok := Open(out[:0:0], want, &nonce, &key)
				require.True(t, ok, "Open, length %d", n)
				require.True(t, bytes.Equal(msg, pt), "Open, length %d", n)

				pt, ok = OpenInPlace(b, &nonce, &key)
				require.True(t, ok, "OpenInPlace, length %d", n)
				require.True(t, bytes.Equal(msg, pt), "OpenInPlace, length %d", n)
				if n > 0 {
					require.Same(t, &b[TagSize], &pt[0], "OpenInPlace returns the buffer itself")
				}
			}
		})
	}
}
