package crypto

import (
	"crypto/subtle"
	"sync"
)

// keyStreamMax is the most keystream a firstKeyStream call produces:
// sixteen Salsa20 blocks, what the AVX-512 code computes in one pass.
const keyStreamMax = 1024

// shortMax is the longest message that block 0 alone encrypts: its first
// 32 bytes key Poly1305 and the other 32 encrypt the message. Such
// messages (acks, small control messages) take a path with one block and
// no kernel pass.
const shortMax = 32

// scratch is the working memory of sealing or opening a message past
// shortMax: a kernel pass of keystream and the vector Poly1305's tables.
// It lives in scratchPool rather than in the frames of sealLong and
// openLong because those frames sit at the bottom of every connection's
// reader and writer goroutines: 1 KiB of keystream there (2 KiB more for
// the Poly1305 tables), on top of the kernel's own 1 KiB frame, grew a
// reader's stack from 4 to 8 KiB, and a goroutine's stack never shrinks
// back while it blocks. A pool costs a Get and a Put per chunk (per-P,
// no allocation once warm) and holds about one scratch per P, however
// many connections there are.
type scratch struct {
	ks   [keyStreamMax]byte
	poly polyScratch // poly1305_amd64.go; empty where there are no lanes
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

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
//	xorKeyStreamFast(s, dst, src, ks)
//	                               XOR from where firstKeyStreamFast stopped,
//	                               ks being scratch for a partial pass

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
		polySum(&tag, ct, (*[32]byte)(b[:32]), nil)
	} else {
		sc := scratchPool.Get().(*scratch)
		sealLong(&s, &tag, ct, plaintext, sc)
		scratchPool.Put(sc)
	}
	copy(out, tag[:])
}

// sealLong is sealTo past shortMax, its keystream in sc.
func sealLong(s *xsalsa20, tag *[TagSize]byte, ct, plaintext []byte, sc *scratch) {
	ks := &sc.ks
	n := firstKeyStreamFast(s, ks)
	// The Poly1305 key, kept aside: a tail shorter than a pass reuses ks.
	polyKey := [32]byte(ks[:32])
	m := min(len(plaintext), n-32)
	subtle.XORBytes(ct[:m], plaintext[:m], ks[32:32+m])
	if len(plaintext) > m {
		xorKeyStreamFast(s, ct[m:], plaintext[m:], ks)
	}
	polySum(tag, ct, &polyKey, &sc.poly)
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
		polySum(&tag, ct, (*[32]byte)(b[:32]), nil)
		if subtle.ConstantTimeCompare(tag[:], sealed[:TagSize]) != 1 {
			return nil, false
		}
		ret, out := openOutput(dst, sealed, inPlace)
		subtle.XORBytes(out, ct, b[32:])
		return ret, true
	}
	sc := scratchPool.Get().(*scratch)
	ret, ok := openLong(&s, dst, sealed, inPlace, sc)
	scratchPool.Put(sc)
	return ret, ok
}

// openLong is openTo past shortMax, its keystream in sc.
func openLong(s *xsalsa20, dst, sealed []byte, inPlace bool, sc *scratch) ([]byte, bool) {
	ct := sealed[TagSize:]
	var tag [TagSize]byte
	ks := &sc.ks
	n := firstKeyStreamFast(s, ks)
	polySum(&tag, ct, (*[32]byte)(ks[:32]), &sc.poly)
	if subtle.ConstantTimeCompare(tag[:], sealed[:TagSize]) != 1 {
		return nil, false
	}
	ret, out := openOutput(dst, sealed, inPlace)
	m := min(len(ct), n-32)
	subtle.XORBytes(out[:m], ct[:m], ks[32:32+m])
	if len(ct) > m {
		xorKeyStreamFast(s, out[m:], ct[m:], ks)
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
