package dataenc

// These tests were internal/wire's, from when it wrapped this Reader; they
// pin the octez data-encoding rules the wire decoders rely on.

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderBoolIsLenient(t *testing.T) {
	tests := []struct {
		in   byte
		want bool
	}{{0x00, false}, {0xFF, true}, {0x01, true}, {0x80, true}, {0x7F, true}}
	for _, tt := range tests {
		r := MakeReader([]byte{tt.in})
		assert.Equal(t, tt.want, r.Bool(), "byte %#x", tt.in)
		require.NoError(t, r.Finish("bool"))
	}
	assert.Equal(t, []byte{0x00, 0xFF}, AppendBool(AppendBool(nil, false), true))
}

func TestReaderHugeLengthDoesNotAllocate(t *testing.T) {
	in := []byte{0xFF, 0xFF, 0xFF, 0xF0, 1, 2, 3}
	allocs := testing.AllocsPerRun(100, func() {
		var r Reader
		r.Reset(in)
		_ = r.Bytes(-1)
		if !errors.Is(r.Err(), ErrTooLarge) {
			panic("expected ErrTooLarge")
		}
	})
	assert.Zero(t, allocs)
}

func TestReaderStickyError(t *testing.T) {
	r := new(Reader)
	r.Reset([]byte{1, 2, 3})
	r.Field("a")
	assert.Equal(t, uint16(0x0102), r.Uint16())
	r.Field("b")
	assert.Zero(t, r.Uint32(), "short read returns zero")
	require.ErrorIs(t, r.Err(), ErrTruncated)
	r.Field("c")
	assert.Zero(t, r.Uint8(), "later reads return zero even though a byte was left")
	assert.Nil(t, r.Fixed(1))
	assert.Nil(t, r.Rest())
	assert.Empty(t, r.String(10))
	r.Fail(ErrInvalid)
	err := r.Finish("thing")
	require.ErrorIs(t, err, ErrTruncated, "first error wins")
	assert.EqualError(t, err, "dataenc: decode thing: b: truncated input")

	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "thing: b", de.What)
	assert.Same(t, ErrTruncated, errors.Unwrap(err), "Unwrap returns the sentinel itself")
}

func TestReaderFinish(t *testing.T) {
	r := MakeReader([]byte{1, 2})
	r.Uint8()
	err := r.Finish("x")
	require.ErrorIs(t, err, ErrTrailingBytes)
	assert.EqualError(t, err, "dataenc: decode x: trailing bytes")

	r.Reset([]byte{1, 2})
	assert.Zero(t, r.Offset())
	r.Uint8()
	assert.Equal(t, 1, r.Offset(), "Offset counts the bytes consumed")
	r.Reset([]byte{1, 2})
	assert.Equal(t, []byte{1, 2}, r.Rest())
	assert.Equal(t, 2, r.Offset())
	assert.NoError(t, r.Finish("x"), "Rest consumes everything")

	r.Reset(nil)
	assert.Nil(t, r.Fixed(-1))
	assert.ErrorIs(t, r.Finish("x"), ErrInvalid)
}

func TestAppendStringBytes(t *testing.T) {
	assert.Equal(t, []byte{0, 0, 0, 2, 'h', 'i'}, AppendString(nil, "hi"))
	assert.Equal(t, []byte{9, 0, 0, 0, 0}, AppendBytes([]byte{9}, nil))
	r := MakeReader(AppendString(nil, "TEZOS_MAINNET"))
	assert.Equal(t, "TEZOS_MAINNET", r.String(13))
	assert.NoError(t, r.Finish("s"))
}

func TestDecodeErrorFormat(t *testing.T) {
	err := &DecodeError{What: "connection message: chain_name", Err: ErrTruncated}
	assert.EqualError(t, err, "dataenc: decode connection message: chain_name: truncated input")
	for _, s := range []error{ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid} {
		e := decodeErr("w", "", s)
		assert.ErrorIs(t, e, s)
	}
}
