package bench

import (
	"testing"

	"golang.org/x/crypto/nacl/box"
)

// BenchmarkSealCeiling is the crypto ceiling of BenchmarkP2ppool's
// throughput: the raw NaCl box seal rate (XSalsa20-Poly1305 with a
// precomputed key, what octez's chunks use) for the same message sizes,
// each message plus its 6-byte envelope cut into 65,517-byte chunks as the
// pool does, with no I/O and no opening.
func BenchmarkSealCeiling(b *testing.B) {
	var key [32]byte
	for _, sz := range sizes {
		size := sz.n
		b.Run(sz.name, func(b *testing.B) {
			plain := make([]byte, size+6)
			out := make([]byte, 0, size+6+2*box.Overhead+64)
			var nonce [24]byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				out = out[:0]
				for m := plain; len(m) > 0; {
					piece := m[:min(len(m), 65517)]
					m = m[len(piece):]
					out = box.SealAfterPrecomputation(out, piece, &nonce, &key)
					nonce[23]++
				}
			}
		})
	}
}
