package crypto

import "golang.org/x/crypto/blake2b"

// Blake2b256 returns the unkeyed 32-byte Blake2b digest of the
// concatenation of parts (octez Blake2B.hash_bytes). It allocates; the
// proof-of-work loop uses its own allocation-free path instead.
func Blake2b256(parts ...[]byte) [32]byte {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic("crypto: blake2b.New256: " + err.Error()) // only fails for a too-long key
	}
	for _, p := range parts {
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// PeerIDHash returns the peer id of pk: Blake2b with digest length 16
// (octez Crypto_box.hash). This is not a truncated Blake2b-256: the digest
// length is a parameter of the hash and changes every output byte.
func PeerIDHash(pk *PublicKey) [PeerIDSize]byte {
	h, err := blake2b.New(PeerIDSize, nil)
	if err != nil {
		panic("crypto: blake2b.New(16): " + err.Error()) // 16 is a valid size
	}
	h.Write(pk[:])
	var id [PeerIDSize]byte
	h.Sum(id[:0])
	return id
}
