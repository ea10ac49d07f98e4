package crypto

import (
	//lint:ignore SA1019 octez's box is NaCl crypto_box, which needs raw (H)Salsa20 core; it is used only inside that construction, as x/crypto's own nacl/box does.
	"golang.org/x/crypto/salsa20/salsa"
)

// The portable XSalsa20 steps, used where no assembly applies (other
// architectures, the purego build tag, amd64 without AVX2). They rest on
// golang.org/x/crypto/salsa20/salsa, which is itself pure Go under purego.
// They are compiled everywhere so that tests compare them with the
// assembly in the same run.

// zeros is the all-zero source that turns an XOR into a keystream copy.
var zeros [keyStreamMax]byte

func hsalsa20Generic(out *[32]byte, nonce *[16]byte, key *[32]byte) {
	salsa.HSalsa20(out, nonce, key, &salsa.Sigma)
}

// firstBlockGeneric makes block 0 and leaves the counter as it was.
func firstBlockGeneric(s *xsalsa20, b *[64]byte) {
	counter := s.counter
	salsa.XORKeyStream(b[:], zeros[:64], &counter, &s.subKey)
}

// firstKeyStreamGeneric makes a single block: a software block costs the
// same per byte as any other, so there is nothing to gain from more.
func firstKeyStreamGeneric(s *xsalsa20, ks *[keyStreamMax]byte) int {
	salsa.XORKeyStream(ks[:64], zeros[:64], &s.counter, &s.subKey)
	s.counter[8] = 1 // counter was 0 and block 0 is used
	return 64
}

// xorKeyStreamGeneric XORs src into dst from the current block counter.
// dst and src must overlap exactly or not at all.
func xorKeyStreamGeneric(s *xsalsa20, dst, src []byte) {
	salsa.XORKeyStream(dst, src, &s.counter, &s.subKey)
}
