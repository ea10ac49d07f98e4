package crypto

import "golang.org/x/crypto/nacl/box"

// Seal appends TagSize+len(plaintext) bytes to dst: the Poly1305 tag then
// the XSalsa20 ciphertext, the layout of an octez chunk body (octez writes
// tag and ciphertext separately, in that order, which is the same bytes).
// The appended bytes must not overlap plaintext (nacl panics if they do).
func Seal(dst, plaintext []byte, nonce *Nonce, key *ChannelKey) []byte {
	return box.SealAfterPrecomputation(dst, plaintext, (*[NonceSize]byte)(nonce), (*[ChannelKeySize]byte)(key))
}

// Open authenticates and decrypts sealed (tag then ciphertext), appending
// the plaintext to dst. It reports false, and appends nothing usable, when
// the tag does not verify or sealed is shorter than a tag. The appended
// bytes must not overlap sealed.
func Open(dst, sealed []byte, nonce *Nonce, key *ChannelKey) ([]byte, bool) {
	return box.OpenAfterPrecomputation(dst, sealed, (*[NonceSize]byte)(nonce), (*[ChannelKeySize]byte)(key))
}
