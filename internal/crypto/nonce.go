package crypto

import (
	"io"

	"golang.org/x/crypto/blake2b"
)

// Seed strings of the nonce derivation, 12 ASCII bytes each, no terminator.
var (
	initToRespSeed = []byte("Init -> Resp")
	respToInitSeed = []byte("Resp -> Init")
)

// RandomNonce returns 24 bytes read from rand: the message nonce of a
// connection message, or the starting point of a proof-of-work search.
func RandomNonce(rand io.Reader) (Nonce, error) {
	var n Nonce
	if _, err := io.ReadFull(rand, n[:]); err != nil {
		return Nonce{}, err
	}
	return n, nil
}

// Increment adds one to n read as a 192-bit big-endian integer, wrapping to
// zero after all ones (octez Hacl.Nonce.increment). Every chunk sent or
// received advances its direction's nonce this way.
func (n *Nonce) Increment() {
	for i := NonceSize - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return
		}
	}
}

// derivedInline covers two connection messages (about 105 bytes each with
// octez's chain names, TEZOS_MAINNET and the like; 150 with a 56-byte
// name) and the longer seed: bigger ones spill to the heap. Not more:
// the buffer is on the stack of a handshake, which must fit in 4 KB
// (socket, exchangeConnectionMessages).
const derivedInline = 320

// DeriveNonces returns the first sending (local) and receiving (remote)
// nonces of a connection from the two raw connection-message frames,
// 2-byte length prefix included (octez Crypto_box.generate_nonces).
// incoming is true on the side that accepted the TCP connection.
//
// The initiator sends with the "Resp -> Init" nonce and the responder with
// the "Init -> Resp" one; each side's remote nonce is the other's local one.
func DeriveNonces(sentMsg, recvMsg []byte, incoming bool) (local, remote Nonce) {
	initMsg, respMsg := sentMsg, recvMsg
	if incoming {
		initMsg, respMsg = recvMsg, sentMsg
	}
	// One-shot Sum256 over the concatenation, on the stack for usual
	// frames: the streaming hash.Hash of Blake2b256 costs two
	// allocations each, and this runs on every handshake.
	var stack [derivedInline]byte
	buf := append(append(stack[:0], initMsg...), respMsg...)
	n := len(buf)
	initToResp := blake2b.Sum256(append(buf, initToRespSeed...))
	respToInit := blake2b.Sum256(append(buf[:n], respToInitSeed...))
	if incoming {
		copy(local[:], initToResp[:NonceSize])
		copy(remote[:], respToInit[:NonceSize])
	} else {
		copy(local[:], respToInit[:NonceSize])
		copy(remote[:], initToResp[:NonceSize])
	}
	return local, remote
}
