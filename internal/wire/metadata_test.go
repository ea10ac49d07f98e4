package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetadata(t *testing.T) {
	tests := []struct {
		in        string
		want      Metadata
		canonical bool
	}{
		{"0000", Metadata{}, true},
		{"ffff", Metadata{DisableMempool: true, PrivateNode: true}, true},
		{"ff00", Metadata{DisableMempool: true}, true},
		{"00ff", Metadata{PrivateNode: true}, true},
		{"0100", Metadata{DisableMempool: true}, false}, // octez: any non-zero is true
		{"0080", Metadata{PrivateNode: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			in := unhex(t, tt.in)
			m, err := DecodeMetadata(in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, m)
			out := m.Append(nil)
			if tt.canonical {
				assert.Equal(t, in, out)
			}
			again, err := DecodeMetadata(out)
			require.NoError(t, err)
			assert.Equal(t, m, again)
		})
	}
	checkPrefixesAndTrailing(t, unhex(t, "ff00"), func(b []byte) error {
		_, err := DecodeMetadata(b)
		return err
	})
}
