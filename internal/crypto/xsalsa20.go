package crypto

import (
	"crypto/subtle"

	"golang.org/x/crypto/poly1305"
)

// keyStreamMax is the most keystream a firstKeyStream call produces:
// sixteen Salsa20 blocks, what the AVX-512 code computes in one pass.
const keyStreamMax = 1024

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

// firstKeyStream writes the keystream of block 0 onwards into ks for a
// message of msgLen bytes and returns how many bytes it wrote (64, 512 or
// 1024: one block, or one pass of the kernel in use), advancing the counter
// past them. The first 32 bytes are the Poly1305 key; the rest encrypt the
// message.
func (s *xsalsa20) firstKeyStream(ks *[keyStreamMax]byte, msgLen int) int {
	return firstKeyStreamFast(s, ks, msgLen)
}

// sealTo writes the tag then the ciphertext of plaintext into out, which
// is TagSize+len(plaintext) long. out[TagSize:] may be plaintext itself;
// any other overlap is the caller's bug.
func sealTo(out, plaintext []byte, nonce *Nonce, key *ChannelKey) {
	var s xsalsa20
	s.init(nonce, key)
	var ks [keyStreamMax]byte
	n := s.firstKeyStream(&ks, len(plaintext))
	ct := out[TagSize:]
	m := min(len(plaintext), n-32)
	subtle.XORBytes(ct[:m], plaintext[:m], ks[32:32+m])
	if len(plaintext) > m {
		xorKeyStreamFast(&s, ct[m:], plaintext[m:])
	}
	var tag [TagSize]byte
	poly1305.Sum(&tag, ct, (*[32]byte)(ks[:32]))
	copy(out, tag[:])
}

// opener opens one sealed message in two steps, so that the caller can
// allocate the output only once the tag is known to be good.
type opener struct {
	s  xsalsa20
	ks [keyStreamMax]byte
	n  int // valid bytes of ks
}

// verify reports whether sealed (tag ‖ ciphertext, at least TagSize long)
// carries a valid tag. It decrypts nothing.
func (o *opener) verify(sealed []byte, nonce *Nonce, key *ChannelKey) bool {
	o.s.init(nonce, key)
	o.n = o.s.firstKeyStream(&o.ks, len(sealed)-TagSize)
	var tag [TagSize]byte
	poly1305.Sum(&tag, sealed[TagSize:], (*[32]byte)(o.ks[:32]))
	return subtle.ConstantTimeCompare(tag[:], sealed[:TagSize]) == 1
}

// decrypt writes the plaintext of ct, whose tag verify accepted, into out
// (len(ct) bytes, either ct itself or not overlapping it).
func (o *opener) decrypt(out, ct []byte) {
	m := min(len(ct), o.n-32)
	subtle.XORBytes(out[:m], ct[:m], o.ks[32:32+m])
	if len(ct) > m {
		xorKeyStreamFast(&o.s, out[m:], ct[m:])
	}
}
