package crypto

import (
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	//lint:ignore SA1019 octez's box is NaCl crypto_box, which needs raw (H)Salsa20 core; it is used only inside that construction, as x/crypto's own nacl/box does.
	"golang.org/x/crypto/salsa20/salsa"
)

// GenerateKey returns a fresh X25519 key pair, reading the 32 secret bytes
// from rand (crypto/rand.Reader in production), like octez Box.keypair.
func GenerateKey(rand io.Reader) (PublicKey, SecretKey, error) {
	pk, sk, err := box.GenerateKey(rand)
	if err != nil {
		return PublicKey{}, SecretKey{}, err
	}
	return *pk, *sk, nil
}

// Public returns the public key of sk: X25519(sk, basepoint). octez uses
// this (Box.neuterize) to check that an identity's keys belong together.
func (sk *SecretKey) Public() PublicKey {
	var pk PublicKey
	out, err := curve25519.X25519(sk[:], curve25519.Basepoint)
	if err != nil {
		// The base point has large prime order, so the product is never
		// the identity; an error here means the library is broken.
		panic("crypto: X25519 with the base point failed: " + err.Error())
	}
	copy(pk[:], out)
	return pk
}

// Precompute returns the channel key shared with the owner of remote
// (crypto_box_beforenm). It fails with ErrLowOrderKey when the X25519
// shared secret is all zero, as HACL does; box.Precompute alone would
// silently derive a key every attacker knows.
func Precompute(remote *PublicKey, local *SecretKey) (ChannelKey, error) {
	shared, err := curve25519.X25519(local[:], remote[:])
	if err != nil {
		return ChannelKey{}, ErrLowOrderKey
	}
	// Same as box.Precompute, but reusing the checked shared secret
	// instead of doing the scalar multiplication a second time.
	var ck ChannelKey
	var zeros [16]byte
	key := (*[32]byte)(shared)
	salsa.HSalsa20((*[32]byte)(&ck), &zeros, key, &salsa.Sigma)
	clear(shared)
	return ck, nil
}
