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

// sealedLengths are the message lengths the tamper and alias tests use:
// empty, around the 32 bytes the Poly1305 key block leaves, around the
// first eight-block pass and its tail, and a full chunk.
var sealedLengths = []int{0, 1, 31, 32, 33, 100, 479, 480, 481, 992, 993, 4096, maxChunkPlain}

// TestTamperedFails flips bits of a sealed message: Open and OpenInPlace
// must refuse every one, and OpenInPlace must leave the buffer as it was.
// Short messages get every bit flipped; long ones every tag bit and a
// sample of ciphertext bits.
func TestTamperedFails(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl, func(t *testing.T) {
			useImplementation(t, impl)
			rng := rand.New(rand.NewChaCha8([32]byte{4}))
			for _, n := range sealedLengths {
				key, nonce := randomKeyNonce(rng)
				msg := make([]byte, n)
				fill(rng, msg)
				sealed := Seal(nil, msg, &nonce, &key)
				var bits []int
				for i := range 8 * len(sealed) {
					if len(sealed) <= 200 || i < 8*TagSize {
						bits = append(bits, i)
					}
				}
				if len(sealed) > 200 {
					for range 256 {
						bits = append(bits, 8*TagSize+rng.IntN(8*n))
					}
				}
				buf := make([]byte, len(sealed))
				for _, bit := range bits {
					copy(buf, sealed)
					buf[bit/8] ^= 1 << (bit % 8)
					tampered := bytes.Clone(buf)
					pt, ok := Open(nil, buf, &nonce, &key)
					require.False(t, ok, "length %d bit %d", n, bit)
					require.Nil(t, pt)
					pt, ok = OpenInPlace(buf, &nonce, &key)
					require.False(t, ok, "in place, length %d bit %d", n, bit)
					require.Nil(t, pt)
					require.Equal(t, tampered, buf, "OpenInPlace changed a rejected buffer")
				}
				// Truncation, a wrong nonce and a wrong key fail too.
				_, ok := Open(nil, sealed[:len(sealed)-1], &nonce, &key)
				require.False(t, ok, "truncated, length %d", n)
				other := nonce
				other[23] ^= 0x80
				_, ok = Open(nil, sealed, &other, &key)
				require.False(t, ok, "wrong nonce, length %d", n)
				otherKey := key
				otherKey[0] ^= 1
				_, ok = Open(nil, sealed, &nonce, &otherKey)
				require.False(t, ok, "wrong key, length %d", n)
			}
		})
	}
}

// Inputs shorter than a tag are refused, and SealInPlace panics on them.
func TestShortInputs(t *testing.T) {
	var key ChannelKey
	var nonce Nonce
	for n := range TagSize {
		buf := make([]byte, n)
		_, ok := Open(nil, buf, &nonce, &key)
		require.False(t, ok)
		_, ok = OpenInPlace(buf, &nonce, &key)
		require.False(t, ok)
		require.Panics(t, func() { SealInPlace(buf, &nonce, &key) })
	}
}

// TestAliasing: the exact overlap each doc comment allows works; any other
// overlap panics before anything is written.
func TestAliasing(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{5}))
	for _, n := range sealedLengths[2:] { // n >= 2, so that a shift by one overlaps
		key, nonce := randomKeyNonce(rng)
		msg := make([]byte, n)
		fill(rng, msg)
		want := secretbox.Seal(nil, msg, (*[24]byte)(&nonce), (*[32]byte)(&key))

		// Seal whose ciphertext lands exactly on the plaintext.
		buf := make([]byte, TagSize+n, TagSize+n+8) // room for shifted outputs
		copy(buf[TagSize:], msg)
		require.Equal(t, want, Seal(buf[:0], buf[TagSize:], &nonce, &key))
		// Open onto exactly the ciphertext.
		pt, ok := Open(buf[:TagSize], buf, &nonce, &key)
		require.True(t, ok)
		require.Equal(t, msg, pt[TagSize:])

		// Shifted overlaps panic.
		copy(buf, want)
		require.Panics(t, func() { Seal(buf[:1], buf[TagSize:], &nonce, &key) }, "Seal shifted by one")
		require.Panics(t, func() { Seal(buf[:0], buf[TagSize-1:TagSize-1+n], &nonce, &key) }, "tag over plaintext")
		require.Panics(t, func() { Open(buf[:TagSize+1], buf, &nonce, &key) }, "Open shifted by one")
		require.Panics(t, func() { Open(buf[:0], buf, &nonce, &key) }, "Open over the tag")
		require.Equal(t, want, buf, "a panicking call wrote to the buffer")
	}
}

// TestInPlaceAllocs: the in-place forms, and the append forms given enough
// capacity, allocate nothing.
func TestInPlaceAllocs(t *testing.T) {
	var key ChannelKey
	var nonce Nonce
	for _, n := range []int{100, 1024, maxChunkPlain} {
		msg := make([]byte, n)
		buf := make([]byte, TagSize+n)
		sealed := Seal(nil, msg, &nonce, &key)
		out := make([]byte, 0, TagSize+n)
		ok := true
		allocs := map[string]float64{
			"SealInPlace": testing.AllocsPerRun(20, func() { SealInPlace(buf, &nonce, &key) }),
			"OpenInPlace": testing.AllocsPerRun(20, func() {
				copy(buf, sealed)
				_, good := OpenInPlace(buf, &nonce, &key)
				ok = ok && good
			}),
			"Seal": testing.AllocsPerRun(20, func() { out = Seal(out[:0], msg, &nonce, &key) }),
			"Open": testing.AllocsPerRun(20, func() {
				var good bool
				out, good = Open(out[:0], sealed, &nonce, &key)
				ok = ok && good
			}),
		}
		require.True(t, ok, "length %d: a measured Open failed", n)
		for name, a := range allocs {
			require.Zero(t, a, "%s allocates at length %d", name, n)
		}
	}
}

// FuzzSecretbox compares Seal and Open with x/crypto's secretbox on fuzzed
// keys, nonces and messages, then feeds the fuzzed bytes to Open and
// OpenInPlace as a sealed box (they are what a peer sends) and checks that
// both agree with secretbox.Open.
func FuzzSecretbox(f *testing.F) {
	f.Add(make([]byte, 56), []byte{})
	f.Add(bytes.Repeat([]byte{7}, 56), bytes.Repeat([]byte{1}, 100))
	f.Add(bytes.Repeat([]byte{9}, 56), bytes.Repeat([]byte{2}, 1500))
	f.Add(bytes.Repeat([]byte{3}, 56), bytes.Repeat([]byte{4}, 5000)) // past every vector threshold
	f.Fuzz(func(t *testing.T, keyNonce, data []byte) {
		if len(keyNonce) < ChannelKeySize+NonceSize {
			return
		}
		key := ChannelKey(keyNonce[:ChannelKeySize])
		nonce := Nonce(keyNonce[ChannelKeySize:])
		for _, impl := range implementations(t) {
			useImplementation(t, impl)
			want := secretbox.Seal(nil, data, (*[24]byte)(&nonce), (*[32]byte)(&key))
			got := Seal(nil, data, &nonce, &key)
			if !bytes.Equal(want, got) {
				t.Fatalf("%s: Seal differs from secretbox at length %d", impl, len(data))
			}
			pt, ok := Open(nil, got, &nonce, &key)
			if !ok || !bytes.Equal(pt, data) {
				t.Fatalf("%s: Open does not invert Seal at length %d", impl, len(data))
			}

			wantPT, wantOK := secretbox.Open(nil, data, (*[24]byte)(&nonce), (*[32]byte)(&key))
			gotPT, gotOK := Open(nil, data, &nonce, &key)
			buf := bytes.Clone(data)
			inPT, inOK := OpenInPlace(buf, &nonce, &key)
			if gotOK != wantOK || inOK != wantOK || !bytes.Equal(gotPT, wantPT) || !bytes.Equal(inPT, wantPT) {
				t.Fatalf("%s: Open of fuzzed bytes disagrees with secretbox", impl)
			}
			if !inOK && !bytes.Equal(buf, data) {
				t.Fatalf("%s: OpenInPlace changed a rejected buffer", impl)
			}
		}
	})
}

// Open appends after what dst holds, reusing its capacity when there is
// enough, like Seal (TestSealAppends).
func TestOpenAppends(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{10}))
	for _, n := range []int{0, 5, 32, 100, 2000} {
		key, nonce := randomKeyNonce(rng)
		msg := make([]byte, n)
		fill(rng, msg)
		sealed := Seal(nil, msg, &nonce, &key)
		prefix := []byte("prefix")
		for _, c := range []int{len(prefix), len(prefix) + n} {
			dst := append(make([]byte, 0, c), prefix...)
			out, ok := Open(dst, sealed, &nonce, &key)
			require.True(t, ok)
			require.Equal(t, append(bytes.Clone(prefix), msg...), out)
			if c >= len(prefix)+n {
				require.Same(t, &dst[0], &out[0], "capacity was enough: no new array")
			}
		}
	}
}
