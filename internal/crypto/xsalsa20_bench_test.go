package crypto

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 octez's box is NaCl crypto_box (XSalsa20-Poly1305), which needs the raw Poly1305 one-time authenticator; it is used only inside that construction, as x/crypto's own nacl/secretbox does.
	"golang.org/x/crypto/poly1305"
)

// benchSizes are the chunk plaintext sizes the issue asks about (a small
// control message, a typical block operation, a full chunk), and 32 bytes,
// the largest message sealed with a single scalar Salsa20 block.
var benchSizes = []struct {
	name string
	n    int
}{{"32B", 32}, {"100B", 100}, {"1KiB", 1024}, {"64KiB", 64 * 1024}}

// BenchmarkSeal compares, in one run, SealInPlace (what the socket writer
// can do: the plaintext already sits after room for the tag), Seal into a
// reused buffer, and x/crypto's secretbox.Seal into a reused buffer.
func BenchmarkSeal(b *testing.B) {
	var key ChannelKey
	var nonce Nonce
	for _, s := range benchSizes {
		msg := make([]byte, s.n)
		b.Run(s.name+"/inplace", func(b *testing.B) {
			buf := make([]byte, TagSize+s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				SealInPlace(buf, &nonce, &key)
			}
		})
		b.Run(s.name+"/append", func(b *testing.B) {
			out := make([]byte, 0, TagSize+s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				out = Seal(out[:0], msg, &nonce, &key)
			}
		})
		b.Run(s.name+"/xcrypto", func(b *testing.B) {
			out := make([]byte, 0, TagSize+s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				out = secretbox.Seal(out[:0], msg, (*[24]byte)(&nonce), (*[32]byte)(&key))
			}
		})
	}
}

// BenchmarkOpen compares Open into a reused buffer with x/crypto's
// secretbox.Open doing the same. (OpenInPlace cannot be looped on one
// buffer, which it decrypts; it runs the same code as Open, and
// TestInPlaceAllocs checks that it does not allocate.)
func BenchmarkOpen(b *testing.B) {
	var key ChannelKey
	var nonce Nonce
	for _, s := range benchSizes {
		sealed := Seal(nil, make([]byte, s.n), &nonce, &key)
		b.Run(s.name+"/append", func(b *testing.B) {
			out := make([]byte, 0, s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				var ok bool
				if out, ok = Open(out[:0], sealed, &nonce, &key); !ok {
					b.Fatal("Open failed")
				}
			}
		})
		b.Run(s.name+"/xcrypto", func(b *testing.B) {
			out := make([]byte, 0, s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				var ok bool
				if out, ok = secretbox.Open(out[:0], sealed, (*[24]byte)(&nonce), (*[32]byte)(&key)); !ok {
					b.Fatal("Open failed")
				}
			}
		})
	}
}

// BenchmarkPoly1305 compares polySum (the eight AVX-512 lanes from 1 KiB
// where available) with x/crypto's poly1305.Sum, the evidence for
// polyVectorMin.
func BenchmarkPoly1305(b *testing.B) {
	var key [32]byte
	key[0] = 1
	for _, n := range []int{512, 1024, 2048, 64 * 1024} {
		msg := make([]byte, n)
		var tag [TagSize]byte
		var ps polyScratch
		name := fmt.Sprintf("%dB", n)
		b.Run(name+"/p2ppool", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				polySum(&tag, msg, &key, &ps)
			}
		})
		b.Run(name+"/xcrypto", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				poly1305.Sum(&tag, msg, &key)
			}
		})
	}
}
