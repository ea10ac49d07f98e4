package crypto

// SealInPlace and OpenInPlace are sealTo and openTo on one buffer. The
// socket seals in place through Seal (the ciphertext exactly over the
// plaintext) and opens into a buffer of its own, so no production caller
// needs them: they are here for the tests and benchmarks of the in-place
// paths.

// SealInPlace seals the plaintext buf[TagSize:] where it lies: on return
// buf[:TagSize] holds the tag and buf[TagSize:] the ciphertext, the bytes
// [Seal] would append. The first TagSize bytes of buf are overwritten
// whatever they held. It panics if buf is shorter than TagSize. It
// neither allocates nor copies the message.
func SealInPlace(buf []byte, nonce *Nonce, key *ChannelKey) {
	if len(buf) < TagSize {
		panic("crypto: SealInPlace buffer shorter than a tag")
	}
	sealTo(buf, buf[TagSize:], nonce, key)
}

// OpenInPlace authenticates buf (tag then ciphertext) and decrypts the
// ciphertext where it lies, returning buf[TagSize:] which then holds the
// plaintext. When the tag does not verify or buf is shorter than a tag it
// returns nil, false and leaves buf unchanged: no plaintext is released.
// It neither allocates nor copies the message.
func OpenInPlace(buf []byte, nonce *Nonce, key *ChannelKey) ([]byte, bool) {
	if len(buf) < TagSize {
		return nil, false
	}
	return openTo(nil, buf, nonce, key, true)
}
