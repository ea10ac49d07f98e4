package tezos

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/vectors"
)

// The fuzz targets check one contract: no panic; a failure is a
// *dataenc.DecodeError wrapping exactly one dataenc sentinel (or
// ErrUnknownTag); a success encodes back to the input bytes, except a
// Protocol whose opt presence bytes are not 0x00/0xFF (octez reads any
// non-zero byte as present), which must encode to a fixed point.

func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrUnknownTag) {
		return
	}
	var de *dataenc.DecodeError
	require.ErrorAs(t, err, &de)
	n := 0
	for _, s := range []error{dataenc.ErrTruncated, dataenc.ErrTrailingBytes, dataenc.ErrTooLarge, dataenc.ErrInvalid} {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one sentinel: %v", err)
}

func FuzzDecodeBody(f *testing.F) {
	for _, k := range kinds {
		g := newGen(uint64(k.Tag) + 1000)
		for range 3 {
			b, err := AppendBody(nil, g.message(k.Tag))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(k.Tag, b)
		}
	}
	for _, s := range teztProtocolBlockHeaders {
		b, _ := hex.DecodeString(s)
		f.Add(TagBlockHeader, b)
	}
	// Real messages, two of each tag, from the recorded session.
	dir, err := vectors.Dir()
	if err != nil {
		f.Fatal(err)
	}
	s, err := vectors.Load(dir)
	if err != nil {
		f.Fatal(err)
	}
	seen := map[uint16]int{}
	for _, raw := range append(s.Sent, s.Received...) {
		tag := binary.BigEndian.Uint16(raw[4:])
		if seen[tag] < 2 {
			seen[tag]++
			f.Add(tag, raw[6:])
		}
	}
	for _, s := range teztProtocolOperations {
		b, _ := hex.DecodeString(s)
		f.Add(TagOperation, b)
	}
	f.Fuzz(func(t *testing.T, tag uint16, body []byte) {
		m, err := DecodeBody(tag, body)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := AppendBody(nil, m)
		require.NoError(t, err)
		if tag != TagProtocol {
			require.Equal(t, body, out)
			return
		}
		m2, err := DecodeBody(tag, out)
		require.NoError(t, err)
		require.Equal(t, m, m2)
		out2, err := AppendBody(nil, m2)
		require.NoError(t, err)
		require.Equal(t, out, out2)
	})
}

func FuzzBlockHeader(f *testing.F) {
	g := newGen(7)
	for range 5 {
		h := g.header()
		b, err := BlockHeaderCodec.Encode(nil, &h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, _ := hex.DecodeString(teztBlockHeaderRaw)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := BlockHeaderCodec.Decode(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := BlockHeaderCodec.Encode(nil, &h)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
}

func FuzzOperation(f *testing.F) {
	b, _ := hex.DecodeString(teztOperationRaw)
	f.Add(b)
	f.Add(make([]byte, 31))
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := OperationCodec.Decode(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := OperationCodec.Encode(nil, &o)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
}

// FuzzPath drives the Merkle path reader on its own, where its recursion
// is unrolled.
func FuzzPath(f *testing.F) {
	g := newGen(8)
	for range 5 {
		b, err := appendPath(nil, g.path())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xF0, 0xF0, 0xF0, 0xF0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := dataenc.MakeReader(in)
		p := readPath(&r)
		if err := r.Finish("path"); err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := appendPath(nil, p)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
}
