//go:build !amd64 || !gc || purego

package crypto

func hsalsa20Fast(out *[32]byte, nonce *[16]byte, key *[32]byte) {
	hsalsa20Generic(out, nonce, key)
}

func firstBlockFast(s *xsalsa20, b *[64]byte) {
	firstBlockGeneric(s, b)
}

func firstKeyStreamFast(s *xsalsa20, ks *[keyStreamMax]byte) int {
	return firstKeyStreamGeneric(s, ks)
}

func xorKeyStreamFast(s *xsalsa20, dst, src []byte, _ *[keyStreamMax]byte) {
	xorKeyStreamGeneric(s, dst, src)
}
