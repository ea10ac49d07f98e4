package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeErrorFormat(t *testing.T) {
	m := ConnectionMessage{Version: NetworkVersion{ChainName: string(make([]byte, 70000))}}
	_, err := m.AppendFrame(nil)
	require.ErrorIs(t, err, ErrTooLarge)
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.EqualError(t, err, "dataenc: encode connection message: body of 70090 bytes: size exceeds limit")
}
