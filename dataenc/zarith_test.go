package dataenc

import (
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZarithVectors(t *testing.T) {
	// Hand-computed from the rules in zarith.go: 7-bit little-endian
	// groups, high bit = more follows; z's first byte has 6 bits and a sign.
	tests := []struct {
		v    string
		n, z string
	}{
		{"0", "00", "00"},
		{"1", "01", "01"},
		{"63", "3f", "3f"},
		{"64", "40", "8001"},
		{"127", "7f", "bf01"},
		{"128", "8001", "8002"},
		{"300", "ac02", "ac04"},
		{"-1", "", "41"},
		{"-64", "", "c001"},
		{"18446744073709551616", "80808080808080808002", "80808080808080808004"},
	}
	for _, tt := range tests {
		v, ok := new(big.Int).SetString(tt.v, 10)
		require.True(t, ok)
		if tt.n != "" {
			b, err := AppendN(nil, v)
			require.NoError(t, err)
			assert.Equal(t, tt.n, hex.EncodeToString(b), "n %s", tt.v)
			r := MakeReader(b)
			assert.Equal(t, 0, v.Cmp(r.N(NoLimit)), "n %s", tt.v)
			require.NoError(t, r.Finish("n"))
		} else {
			_, err := AppendN(nil, v)
			require.ErrorIs(t, err, ErrInvalid)
		}
		b := AppendZ(nil, v)
		assert.Equal(t, tt.z, hex.EncodeToString(b), "z %s", tt.v)
		r := MakeReader(b)
		assert.Equal(t, 0, v.Cmp(r.Z(NoLimit)), "z %s", tt.v)
		require.NoError(t, r.Finish("z"))
	}
}

func TestZarithRefusals(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		err  error
	}{
		{"trailing zero", "8000", NoLimit, ErrInvalid},
		{"unterminated", "8080", NoLimit, ErrTruncated},
		{"over max bytes", "808001", 2, ErrTooLarge},
		{"empty", "", NoLimit, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.in)
			for _, z := range []bool{false, true} {
				r := MakeReader(in)
				if z {
					assert.Nil(t, r.Z(tt.max))
				} else {
					assert.Nil(t, r.N(tt.max))
				}
				require.ErrorIs(t, r.Finish(tt.name), tt.err)
			}
		})
	}
	// octez reads z minus zero as 0 (and writes 0 as 0x00).
	r := MakeReader([]byte{0x40})
	assert.Equal(t, 0, r.Z(NoLimit).Sign())
	require.NoError(t, r.Finish("-0"))
}

func TestZarithRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		v := new(big.Int).SetBytes(b)
		nb, err := AppendN(nil, v)
		require.NoError(t, err)
		r := MakeReader(nb)
		require.Equal(t, 0, v.Cmp(r.N(NoLimit)))
		require.NoError(t, r.Finish("n"))
		if rng.IntN(2) == 0 {
			v.Neg(v)
		}
		r = MakeReader(AppendZ(nil, v))
		require.Equal(t, 0, v.Cmp(r.Z(NoLimit)))
		require.NoError(t, r.Finish("z"))
	}
}
