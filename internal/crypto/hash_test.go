package crypto

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
)

func hexEncode(b []byte) string { return hex.EncodeToString(b) }

func TestPeerIDHashV5(t *testing.T) {
	pk := hexPK(t, "2cc1b580f4b8b1f6dbd0aa1d9cde2655c2081c07d7e61249aad8b11d954fb01a")
	id := PeerIDHash(&pk)
	assert.Equal(t, "a158a0fb7958a4e8f0219960d1cd9fe8", hexEncode(id[:]))
	assert.Equal(t, "idsg2wkkDDv2cbEMK4zH49fjgyn7XT", Base58CheckEncode([]byte{0x99, 0x67}, id[:]))

	// A digest-length-16 Blake2b is not a truncated Blake2b-256.
	full := Blake2b256(pk[:])
	assert.NotEqual(t, hexEncode(full[:16]), hexEncode(id[:]))
}

func TestBlake2b256(t *testing.T) {
	// V4 pk ‖ stamp, hashed in one piece or in parts.
	pk := unhex(t, "d8246d13d0270cbfff4046b6d94b05ab19920bc5ad9fb77f3e945c40b340e874")
	stamp := unhex(t, "d1d0ebd55784bc92852d913dbf0fb5152d505b567d930fb2")
	want := "6f5b26c392eee6b98fa6d6623055540834a4d563f1f8359233e2563d25000000"
	whole := Blake2b256(append(append([]byte{}, pk...), stamp...))
	parts := Blake2b256(pk[:10], pk[10:], nil, stamp)
	assert.Equal(t, want, hexEncode(whole[:]))
	assert.Equal(t, whole, parts)

	// The empty input (RFC 7693 / reference implementation value).
	empty := Blake2b256()
	assert.Equal(t, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", hexEncode(empty[:]))
}
