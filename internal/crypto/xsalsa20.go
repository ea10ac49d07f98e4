package crypto

import (
	"crypto/subtle"
)

// keyStreamMax is the most keystream a firstKeyStream call produces:
// sixteen Salsa20 blocks, what the AVX-512 code computes in one pass.
const keyStreamMax = 1024

// shortMax is the longest message that block 0 alone encrypts: its first
// 32 bytes key Poly1305 and the other 32 encrypt the message. Such
// messages (acks, small control messages) take a path with one block and
// no kernel pass.
const shortMax = 32

// xsalsa20 is XSalsa20 after its HSalsa20 step: a Salsa20/20 stream keyed
// by the subkey, with the last 8 nonce bytes and a little-endian block
// counter as its 16-byte input.
type xsalsa20 struct {
	subKey  [32]byte
	counter [16]byte // nonce[16:24] ‖ block counter
}

// init derives the subkey from the channel key and the first 16 nonce bytes
// and sets the block counter to zero.
func (s *xsalsa20) init(nonce *Nonce, key *ChannelKey) {
	hsalsa20Fast(&s.subKey, (*[16]byte)(nonce[:16]), (*[32]byte)(key))
	copy(s.counter[:8], nonce[16:])
	clear(s.counter[8:])
}

// The architecture files provide:
//
//	hsalsa20Fast(out, nonce, key)  HSalsa20
//	firstBlockFast(s, b)           block 0 into b; the counter is left as is
//	firstKeyStreamFast(s, ks) int  keystream from block 0 into ks, returning
//	                               how much (64, 512 or 1024: one block or
//	                               one kernel pass) and advancing the counter
//	xorKeyStreamFast(s, dst, src)  XOR from where firstKeyStreamFast stopped

// sealTo writes the tag then the ciphertext of plaintext into out, which
// is TagSize+len(plaintext) long. out[TagSize:] may be plaintext itself;
// any other overlap is the caller's bug.
func sealTo(out, plaintext []byte, nonce *Nonce, key *ChannelKey) {
	var s xsalsa20
	s.init(nonce, key)
	ct := out[TagSize:]
	var tag [TagSize]byte
	if len(plaintext) <= shortMax {
		var b [64]byte
		firstBlockFast(&s, &b)
		subtle.XORBytes(ct, plaintext, b[32:])
		polySum(&tag, ct, (*[32]byte)(b[:32]))
	} else {
		sealLong(&s, &tag, ct, plaintext)
	}
	copy(out, tag[:])
}

// sealLong is the keystream-buffer half of sealTo. Like openLong, it is a
// function of its own, never inlined, so that sealing a short chunk (every
// handshake chunk) does not take its 1 KiB frame: on a new goroutine that
// would grow, so copy, the stack.
//
//go:noinline
func sealLong(s *xsalsa20, tag *[TagSize]byte, ct, plaintext []byte) {
	var ks [keyStreamMax]byte
	n := firstKeyStreamFast(s, &ks)
	m := min(len(plaintext), n-32)
	subtle.XORBytes(ct[:m], plaintext[:m], ks[32:32+m])
	if len(plaintext) > m {
		xorKeyStreamFast(s, ct[m:], plaintext[m:])
	}
	polySum(tag, ct, (*[32]byte)(ks[:32]))
}

// openTo checks the tag of sealed (tag ‖ ciphertext, at least TagSize
// long) and only if it is good decrypts: in place when inPlace, else
// appending to dst. It returns the plaintext, or nil and false having
// written nothing.
func openTo(dst, sealed []byte, nonce *Nonce, key *ChannelKey, inPlace bool) ([]byte, bool) {
	ct := sealed[TagSize:]
	var s xsalsa20
	s.init(nonce, key)
	var tag [TagSize]byte
	if len(ct) <= shortMax {
		var b [64]byte
		firstBlockFast(&s, &b)
		polySum(&tag, ct, (*[32]byte)(b[:32]))
		if subtle.ConstantTimeCompare(tag[:], sealed[:TagSize]) != 1 {
			return nil, false
		}
		ret, out := openOutput(dst, sealed, inPlace)
		subtle.XORBytes(out, ct, b[32:])
		return ret, true
	}
	return openLong(&s, dst, sealed, inPlace)
}

// openLong is openTo past shortMax (see sealLong for why it stands alone).
//
//go:noinline
func openLong(s *xsalsa20, dst, sealed []byte, inPlace bool) ([]byte, bool) {
	ct := sealed[TagSize:]
	var tag [TagSize]byte
	var ks [keyStreamMax]byte
	n := firstKeyStreamFast(s, &ks)
	polySum(&tag, ct, (*[32]byte)(ks[:32]))
	if subtle.ConstantTimeCompare(tag[:], sealed[:TagSize]) != 1 {
		return nil, false
	}
	ret, out := openOutput(dst, sealed, inPlace)
	m := min(len(ct), n-32)
	subtle.XORBytes(out[:m], ct[:m], ks[32:32+m])
	if len(ct) > m {
		xorKeyStreamFast(s, out[m:], ct[m:])
	}
	return ret, true
}

// openOutput returns where openTo writes the plaintext of sealed: over the
// ciphertext when inPlace, else len(sealed)-TagSize bytes appended to dst,
// which may land exactly on the ciphertext and nowhere else in sealed.
func openOutput(dst, sealed []byte, inPlace bool) (ret, out []byte) {
	ct := sealed[TagSize:]
	if inPlace {
		return ct, ct
	}
	ret, out = sliceForAppend(dst, len(ct))
	if anyOverlap(out, sealed[:TagSize]) || inexactOverlap(out, ct) {
		panic("crypto: Open output overlaps its input")
	}
	return ret, out
}
