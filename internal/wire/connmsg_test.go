package wire

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectionMessageVectors(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		port   uint16
		pk     string
		pow    string // empty: not checked
		chain  string
		ddb    uint16
		p2p    uint16
		length int
	}{
		{"V11 sent", v11Sent, 9732, v11SentPK, v11SentPow, v11Chain, 0, 1, 0x86},
		{"V11 received", v11Received, 9732, v11ReceivedPK, "", v11Chain, 0, 1, 0x86},
		{"V2 sent_msg", v2SentMsg, 0x4d1b, "98317bd6efad8352a7144c9eb0b218c9130e0a875973908ddc894b764ffc0d7f", "", v2Chain, 0, 0, 0x87},
		{"V2 recv_msg", v2RecvMsg, 0x4d1a, "b3845960b32b039fef38ca5c9f8f867df1d522f27a83e07d9dfbe3b296a6c076", "", v2Chain, 0, 0, 0x87},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := unhex(t, tt.frame)
			require.Len(t, frame, 2+tt.length)

			m, err := DecodeConnectionMessage(frame[2:])
			require.NoError(t, err)
			assert.Equal(t, tt.port, m.Port)
			assert.Equal(t, unhex(t, tt.pk), m.PublicKey[:])
			if tt.pow != "" {
				assert.Equal(t, unhex(t, tt.pow), m.ProofOfWorkStamp[:])
			}
			assert.Equal(t, NetworkVersion{ChainName: tt.chain, DistributedDB: tt.ddb, P2P: tt.p2p}, m.Version)
			assert.Equal(t, tt.length, m.BodySize())

			again, err := DecodeConnectionFrame(frame)
			require.NoError(t, err)
			assert.Equal(t, m, again)

			out, err := m.AppendFrame([]byte("prefix"))
			require.NoError(t, err)
			assert.Equal(t, "prefix", string(out[:6]), "AppendFrame appends")
			assert.Equal(t, frame, out[6:], "re-encoding is byte-exact")
		})
	}
}

func TestConnectionMessageFraming(t *testing.T) {
	body := unhex(t, v11Sent)[2:]
	checkPrefixesAndTrailing(t, body, func(b []byte) error {
		_, err := DecodeConnectionMessage(b)
		return err
	})
	frame := unhex(t, v11Sent)
	checkPrefixesAndTrailing(t, frame, func(b []byte) error {
		_, err := DecodeConnectionFrame(b)
		return err
	})
}

func TestConnectionMessageErrors(t *testing.T) {
	// The minimum body is 90 bytes (empty chain name).
	m := ConnectionMessage{Port: 1}
	frame, err := m.AppendFrame(nil)
	require.NoError(t, err)
	assert.Len(t, frame, 2+MinConnectionMessageBody)
	got, err := DecodeConnectionMessage(frame[2:])
	require.NoError(t, err)
	assert.Equal(t, m, got)

	// A 3-byte body is truncated (the socket layer relies on it).
	_, err = DecodeConnectionMessage([]byte{1, 2, 3})
	require.ErrorIs(t, err, ErrTruncated)
	assert.EqualError(t, err, "dataenc: decode connection message: pubkey: truncated input")

	// A chain name claiming more than the body holds.
	body := append([]byte(nil), frame[2:]...)
	body[82+3] = 10 // chain_name length, at body offset 82 (frame offset 84)
	_, err = DecodeConnectionMessage(body)
	require.ErrorIs(t, err, ErrTruncated)
	assert.Contains(t, err.Error(), "chain_name")

	// A chain name claiming 4 GiB is refused from its prefix.
	body[82], body[83], body[84], body[85] = 0xFF, 0xFF, 0xFF, 0xFF
	_, err = DecodeConnectionMessage(body)
	require.ErrorIs(t, err, ErrTooLarge)

	// Bodies that no 2-byte prefix can describe.
	_, err = DecodeConnectionMessage(make([]byte, MaxConnectionMessageBody+1))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestConnectionMessageMaxSize(t *testing.T) {
	m := ConnectionMessage{Version: NetworkVersion{ChainName: strings.Repeat("c", MaxConnectionMessageBody-MinConnectionMessageBody)}}
	frame, err := m.AppendFrame(nil)
	require.NoError(t, err)
	require.Len(t, frame, 2+MaxConnectionMessageBody)
	assert.Equal(t, []byte{0xFF, 0xFF}, frame[:2])
	got, err := DecodeConnectionFrame(frame)
	require.NoError(t, err)
	assert.Equal(t, m, got)

	m.Version.ChainName += "c"
	out, err := m.AppendFrame([]byte{7})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, []byte{7}, out, "dst is returned unchanged on error")
}

// DecodeConnectionFrame decodes a whole frame (2-byte length prefix and
// body), as kept for nonce derivation. The prefix must match the body
// length exactly: fewer bytes fail with ErrTruncated, more with
// ErrTrailingBytes.
func DecodeConnectionFrame(frame []byte) (ConnectionMessage, error) {
	if len(frame) < 2 {
		return ConnectionMessage{}, decodeErr("connection message", "length", ErrTruncated)
	}
	n := int(binary.BigEndian.Uint16(frame))
	switch {
	case len(frame)-2 < n:
		return ConnectionMessage{}, decodeErr("connection message", "", ErrTruncated)
	case len(frame)-2 > n:
		return ConnectionMessage{}, decodeErr("connection message", "", ErrTrailingBytes)
	}
	return DecodeConnectionMessage(frame[2:])
}
