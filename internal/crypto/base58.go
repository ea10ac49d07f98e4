package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// b58Alphabet is the Bitcoin base58 alphabet, octez's default.
const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// b58Index maps an ASCII byte to its digit value, or 0xff if it is not a
// base58 digit.
var b58Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(b58Alphabet) {
		t[b58Alphabet[i]] = byte(i)
	}
	return t
}()

// Errors of Base58CheckDecode; each is wrapped with the details.
var (
	// ErrBase58Char reports a character outside the base58 alphabet.
	ErrBase58Char = errors.New("crypto: invalid base58 character")
	// ErrBase58Checksum reports a failed (or missing) 4-byte checksum.
	ErrBase58Checksum = errors.New("crypto: bad base58check checksum")
	// ErrBase58Prefix reports a well-formed string of another kind of
	// value (octez distinguishes them by their binary prefix).
	ErrBase58Prefix = errors.New("crypto: wrong base58check prefix")
	// ErrBase58Length reports a payload of the wrong length.
	ErrBase58Length = errors.New("crypto: wrong base58check payload length")
)

// b58checksum returns the first 4 bytes of SHA-256(SHA-256(data)).
func b58checksum(data []byte) [4]byte {
	h1 := sha256.Sum256(data)
	h2 := sha256.Sum256(h1[:])
	return [4]byte(h2[:4])
}

// Base58CheckEncode returns the base58check text of prefix ‖ payload, as
// octez Base58.simple_encode: Bitcoin alphabet, 4-byte double-SHA-256
// checksum appended, one '1' per leading zero byte.
func Base58CheckEncode(prefix, payload []byte) string {
	data := make([]byte, 0, len(prefix)+len(payload)+4)
	data = append(data, prefix...)
	data = append(data, payload...)
	sum := b58checksum(data)
	data = append(data, sum[:]...)
	return string(b58Encode(data))
}

// Base58CheckDecode decodes s, checks its checksum and that it holds
// prefix followed by exactly payloadLen bytes, and returns the payload.
// The errors wrap ErrBase58Char, ErrBase58Checksum, ErrBase58Prefix or
// ErrBase58Length, checked in that order.
func Base58CheckDecode(s string, prefix []byte, payloadLen int) ([]byte, error) {
	data, err := b58Decode(s)
	if err != nil {
		return nil, err
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: %q is too short to hold a checksum", ErrBase58Checksum, s)
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if want := b58checksum(body); !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w in %q", ErrBase58Checksum, s)
	}
	if !bytes.HasPrefix(body, prefix) {
		return nil, fmt.Errorf("%w: %q does not start with %x", ErrBase58Prefix, s, prefix)
	}
	payload := body[len(prefix):]
	if len(payload) != payloadLen {
		return nil, fmt.Errorf("%w: %q holds %d bytes, want %d", ErrBase58Length, s, len(payload), payloadLen)
	}
	return payload, nil
}

// b58Encode converts data, a big-endian number, to base58 digits.
func b58Encode(data []byte) []byte {
	zeros := 0
	for zeros < len(data) && data[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37: enough digits for the number.
	digits := make([]byte, (len(data)-zeros)*137/100+1)
	n := 0 // significant digits in digits, least significant first
	for _, b := range data[zeros:] {
		carry := int(b)
		for i := 0; i < n; i++ {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits[n] = byte(carry % 58)
			carry /= 58
			n++
		}
	}
	out := make([]byte, 0, zeros+n)
	for range zeros {
		out = append(out, b58Alphabet[0])
	}
	for i := n - 1; i >= 0; i-- {
		out = append(out, b58Alphabet[digits[i]])
	}
	return out
}

// b58Decode converts base58 text to the big-endian bytes it encodes, one
// zero byte per leading '1'.
func b58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == b58Alphabet[0] {
		zeros++
	}
	// log(58)/log(256) < 0.74: enough bytes for the number.
	buf := make([]byte, (len(s)-zeros)*74/100+1)
	n := 0 // significant bytes in buf, least significant first
	for i := zeros; i < len(s); i++ {
		d := b58Index[s[i]]
		if d == 0xff {
			return nil, fmt.Errorf("%w %q at offset %d", ErrBase58Char, s[i], i)
		}
		carry := int(d)
		for j := 0; j < n; j++ {
			carry += int(buf[j]) * 58
			buf[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			buf[n] = byte(carry)
			carry >>= 8
			n++
		}
	}
	out := make([]byte, zeros+n)
	for i := range n {
		out[zeros+i] = buf[n-1-i]
	}
	return out, nil
}
