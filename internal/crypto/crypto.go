// Package crypto holds the cryptographic primitives of the octez (Tezos node)
// P2P layer: X25519 key pairs, NaCl box channel keys, XSalsa20-Poly1305
// sealing, the 24-byte nonces and their derivation from the two connection
// messages, Blake2b hashing, the proof-of-work stamp and base58check.
//
// Everything here must produce exactly the bytes octez produces; the test
// vectors come from the wire specification (shared/spec/tezos-wire.md §11).
package crypto

import (
	"errors"

	"golang.org/x/crypto/nacl/box"
)

// Sizes of the fixed-length values exchanged with octez.
const (
	// PublicKeySize is the length of an X25519 public key.
	PublicKeySize = 32
	// SecretKeySize is the length of an X25519 secret key.
	SecretKeySize = 32
	// NonceSize is the length of a box nonce and of a proof-of-work stamp.
	NonceSize = 24
	// ChannelKeySize is the length of a precomputed box key.
	ChannelKeySize = 32
	// PeerIDSize is the length of a peer id (Blake2b-128 of the public key).
	PeerIDSize = 16
	// TagSize is the length of the Poly1305 tag that precedes every
	// ciphertext on the wire.
	TagSize = box.Overhead
)

// PublicKey is an X25519 public key.
type PublicKey [PublicKeySize]byte

// SecretKey is an X25519 secret key, stored unclamped as octez stores it
// (clamping happens inside every scalar multiplication).
type SecretKey [SecretKeySize]byte

// Nonce is a 24-byte box nonce; proof-of-work stamps have the same type.
type Nonce [NonceSize]byte

// ChannelKey is the key both sides of a connection share: the HSalsa20 of
// the X25519 shared secret (NaCl crypto_box_beforenm).
type ChannelKey [ChannelKeySize]byte

// ErrLowOrderKey reports a remote public key of small order: the X25519
// shared secret is all zero, which HACL (and so octez) refuses.
var ErrLowOrderKey = errors.New("crypto: remote public key has low order")
