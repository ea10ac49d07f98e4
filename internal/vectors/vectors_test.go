package vectors

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	dir, err := Dir()
	require.NoError(t, err, "the recorded session is part of the repository (testdata/)")
	s, err := Load(dir)
	require.NoError(t, err)
	assert.Len(t, s.Sent, 5472)
	assert.Equal(t, "0000000600109caecab9", hex.EncodeToString(s.Sent[0]))
	assert.Len(t, s.Received, 111, "113 whole chunks, less metadata and ack")
	whole := 0
	for _, pt := range s.Received {
		if len(pt) >= 4 && int(binary.BigEndian.Uint32(pt)) == len(pt)-4 {
			whole++
		}
	}
	t.Logf("received: %d rows, %d whole chunks after the handshake, %d of them one whole message", s.ReceivedRows, len(s.Received), whole)
}
