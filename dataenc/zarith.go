package dataenc

import (
	"math/big"
	"strconv"
)

// octez `n` is a natural number written little-endian in groups of 7 bits,
// one group per byte, the high bit of a byte saying another follows. `z`
// is the same except that the first byte holds only 6 bits of the value
// and its bit 6 is the sign. octez refuses a last byte of zero after the
// first (Trailing_zero), so every number has one spelling, except `z`
// minus zero (0x40), which octez reads as 0 and writes back as 0x00.

// N reads an octez `n` of at most maxBytes bytes (NoLimit: the input's
// size). A longer number fails with ErrTooLarge once maxBytes bytes have
// been read, a trailing zero byte with ErrInvalid.
func (r *Reader) N(maxBytes int) *big.Int {
	b := r.zarithBytes(maxBytes)
	if b == nil {
		return nil
	}
	v := new(big.Int)
	var d big.Int
	for i := len(b) - 1; i >= 0; i-- {
		v.Lsh(v, 7)
		v.Or(v, d.SetUint64(uint64(b[i]&0x7F)))
	}
	return v
}

// Z reads an octez `z` of at most maxBytes bytes; see N.
func (r *Reader) Z(maxBytes int) *big.Int {
	b := r.zarithBytes(maxBytes)
	if b == nil {
		return nil
	}
	v := new(big.Int)
	var d big.Int
	for i := len(b) - 1; i >= 1; i-- {
		v.Lsh(v, 7)
		v.Or(v, d.SetUint64(uint64(b[i]&0x7F)))
	}
	v.Lsh(v, 6)
	v.Or(v, d.SetUint64(uint64(b[0]&0x3F)))
	if b[0]&0x40 != 0 {
		v.Neg(v)
	}
	return v
}

// zarithBytes returns the bytes of one n or z, aliasing the input, after
// checking the continuation bits, the bound and the trailing zero.
func (r *Reader) zarithBytes(maxBytes int) []byte {
	if r.err != nil {
		return nil
	}
	start := r.off
	for i := 0; ; i++ {
		if maxBytes >= 0 && i >= maxBytes {
			r.Failf(ErrTooLarge, "zarith number over "+strconv.Itoa(maxBytes)+" bytes")
			return nil
		}
		c := r.Uint8()
		if r.err != nil {
			return nil
		}
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				r.Failf(ErrInvalid, "zarith number with a trailing zero byte")
				return nil
			}
			break
		}
	}
	return r.buf[start:r.off:r.off]
}

// AppendN appends v as an octez `n`. v must not be negative (an
// *EncodeError wrapping ErrInvalid, dst unchanged).
func AppendN(dst []byte, v *big.Int) ([]byte, error) {
	if v.Sign() < 0 {
		return dst, &EncodeError{What: "n of negative " + v.String(), Err: ErrInvalid}
	}
	return appendGroups(dst, v.Bits(), 0, 7), nil
}

// AppendZ appends v as an octez `z`.
func AppendZ(dst []byte, v *big.Int) []byte {
	var sign byte
	if v.Sign() < 0 {
		sign = 0x40
	}
	return appendGroups(dst, v.Bits(), sign, 6)
}

// appendGroups writes the magnitude in words (little-endian big.Words) as
// a first group of firstBits bits (ORed with flags), then 7-bit groups.
func appendGroups(dst []byte, words []big.Word, flags byte, firstBits uint) []byte {
	const wordBits = 32 << (^big.Word(0) >> 63)
	total := 0 // significant bits
	for i := len(words) - 1; i >= 0; i-- {
		if words[i] != 0 {
			w := words[i]
			n := 0
			for w != 0 {
				w >>= 1
				n++
			}
			total = i*wordBits + n
			break
		}
	}
	bitsAt := func(pos, n uint) byte {
		var v byte
		for k := range n {
			p := pos + k
			wi := int(p / wordBits)
			if wi < len(words) && words[wi]>>(p%wordBits)&1 != 0 {
				v |= 1 << k
			}
		}
		return v
	}
	first := bitsAt(0, firstBits) | flags
	pos := firstBits
	if int(pos) >= total {
		return append(dst, first)
	}
	dst = append(dst, first|0x80)
	for {
		g := bitsAt(pos, 7)
		pos += 7
		if int(pos) >= total {
			return append(dst, g)
		}
		dst = append(dst, g|0x80)
	}
}
