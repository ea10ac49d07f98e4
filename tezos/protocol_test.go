package tezos

import (
	"testing"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProtocolEnvVersion follows octez's env_version_encoding
// (src/lib_base/protocol.ml 92-135): a uint16 mapped onto V0 … V17, any
// other value a failwith inside the conv, which the reader turns into a
// read error (data-encoding binary_reader.ml wrap_reader), so the
// Protocol message (0x41) does not decode and octez's P2P layer
// greylists its sender.
func TestProtocolEnvVersion(t *testing.T) {
	body := func(v uint16) []byte {
		b := dataenc.AppendUint16(nil, v)
		return dataenc.AppendUint32(b, 0) // no components
	}
	for _, v := range []uint16{0, 6, MaxEnvVersion} {
		m, err := DecodeBody(TagProtocol, body(v))
		require.NoError(t, err, "version %d", v)
		assert.Equal(t, int16(v), m.(ProtocolMessage).Protocol.ExpectedEnvVersion)
		out, err := AppendBody(nil, m)
		require.NoError(t, err)
		assert.Equal(t, body(v), out)
	}
	// 0x8000 and above were negative int16s before; octez reads a uint16.
	for _, v := range []uint16{MaxEnvVersion + 1, 0x7FFF, 0x8000, 0xFFFF} {
		m, err := DecodeBody(TagProtocol, body(v))
		assert.Nil(t, m)
		require.ErrorIs(t, err, dataenc.ErrInvalid, "version %d", v)
		var de *dataenc.DecodeError
		require.ErrorAs(t, err, &de)
		assert.Contains(t, de.What, "expected_env_version")
	}
	// octez cannot build a protocol of another version; neither do we.
	for _, v := range []int16{-1, MaxEnvVersion + 1} {
		out, err := AppendBody([]byte{7}, ProtocolMessage{Protocol{ExpectedEnvVersion: v}})
		require.ErrorIs(t, err, dataenc.ErrInvalid)
		assert.Equal(t, []byte{7}, out)
	}
}
