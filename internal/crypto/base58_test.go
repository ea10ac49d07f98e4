package crypto

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var peerIDPrefix = []byte{0x99, 0x67}

func TestBase58CheckPeerIDs(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"all zero", make([]byte, 16), "idqRfGME9Bdhde2rksPSz7s6naxMW4"},
		{"all ff", bytes.Repeat([]byte{0xff}, 16), "idtzX1JXvee2nizJjitoN2PZbwNvkD"},
		{"V5", unhex(t, "a158a0fb7958a4e8f0219960d1cd9fe8"), "idsg2wkkDDv2cbEMK4zH49fjgyn7XT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Base58CheckEncode(peerIDPrefix, tt.payload)
			assert.Equal(t, tt.want, s)
			got, err := Base58CheckDecode(s, peerIDPrefix, 16)
			require.NoError(t, err)
			assert.Equal(t, tt.payload, got)
		})
	}
}

// Leading zero bytes become leading '1's and come back, as in Bitcoin.
func TestBase58CheckLeadingZeros(t *testing.T) {
	for _, payload := range [][]byte{nil, {0}, {0, 0, 1}, {0, 0, 0, 0xff, 0}} {
		s := Base58CheckEncode(nil, payload)
		zeros := len(payload) - len(bytes.TrimLeft(payload, "\x00"))
		assert.True(t, strings.HasPrefix(s, strings.Repeat("1", zeros)), "%x -> %s", payload, s)
		got, err := Base58CheckDecode(s, nil, len(payload))
		require.NoError(t, err)
		assert.Equal(t, len(payload), len(got))
		assert.True(t, bytes.Equal(payload, got))
	}
	// Bitcoin's well-known version-0 example: 20 zero bytes.
	assert.Equal(t, "1111111111111111111114oLvT2", Base58CheckEncode([]byte{0}, make([]byte, 20)))
}

func TestBase58CheckDecodeErrors(t *testing.T) {
	good := "idsg2wkkDDv2cbEMK4zH49fjgyn7XT"
	tests := []struct {
		name    string
		s       string
		prefix  []byte
		length  int
		wantErr error
	}{
		{"zero is not a digit", "ids0wkkDDv2cbEMK4zH49fjgyn7XT", peerIDPrefix, 16, ErrBase58Char},
		{"l is not a digit", "idsl2wkkDDv2cbEMK4zH49fjgyn7XT", peerIDPrefix, 16, ErrBase58Char},
		{"non-ASCII", "idsg2wkkDDv2cbEMK4zH49fjgyn7Xé", peerIDPrefix, 16, ErrBase58Char},
		{"typo breaks the checksum", "idsg2wkkDDv2cbEMK4zH49fjgyn7XU", peerIDPrefix, 16, ErrBase58Checksum},
		{"empty", "", peerIDPrefix, 16, ErrBase58Checksum},
		{"too short", "2g", peerIDPrefix, 16, ErrBase58Checksum},
		{"other prefix", good, []byte{0x06, 0xa1, 0x9f}, 16, ErrBase58Prefix},
		{"wrong length", good, peerIDPrefix, 20, ErrBase58Length},
		{"wrong length, same prefix", Base58CheckEncode(peerIDPrefix, make([]byte, 15)), peerIDPrefix, 16, ErrBase58Length},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Base58CheckDecode(tt.s, tt.prefix, tt.length)
			require.ErrorIs(t, err, tt.wantErr)
			for _, other := range []error{ErrBase58Char, ErrBase58Checksum, ErrBase58Prefix, ErrBase58Length} {
				if other != tt.wantErr {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestBase58RoundTrip(t *testing.T) {
	for n := 0; n < 70; n++ {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*37 + n)
		}
		s := Base58CheckEncode([]byte{1, 2}, payload)
		got, err := Base58CheckDecode(s, []byte{1, 2}, n)
		require.NoError(t, err, "n=%d", n)
		assert.True(t, bytes.Equal(payload, got), "n=%d", n)
	}
}
