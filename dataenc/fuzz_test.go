package dataenc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every fuzz target checks the same contract: no panic; a failure is a
// *DecodeError wrapping exactly one sentinel; a success re-encodes to the
// very input bytes (the inputs here have only canonical spellings, or the
// target canonicalises first).

func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	n := 0
	for _, s := range []error{ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid} {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one sentinel: %v", err)
}

// FuzzPeerCodec drives the package example's codec: string, uint16, opt
// int32 and a bounded list of strings.
func FuzzPeerCodec(f *testing.F) {
	f.Add([]byte{0, 0, 0, 5, 'a', 'l', 'i', 'c', 'e', 0x26, 0x04, 0xff, 0xff, 0xff, 0xff, 0xf9, 0, 0, 0, 6, 0, 0, 0, 2, 'e', 'u'})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := testPeerCodec.Decode(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := testPeerCodec.Encode(nil, &p)
		require.NoError(t, err)
		if isCanonicalOpt(in, p) {
			require.True(t, bytes.Equal(in, out), "re-encoding differs:\n in %x\nout %x", in, out)
		}
	})
}

// isCanonicalOpt reports whether the opt byte of in is 0x00 or 0xFF (the
// only spellings the writer emits).
func isCanonicalOpt(in []byte, p testPeer) bool {
	b := in[4+len(p.name)+2]
	return b == 0 || b == 0xFF
}

type testPeer struct {
	name  string
	port  uint16
	score *int32
	tags  []string
}

var testPeerCodec = Codec[testPeer]{
	Name: "peer",
	Read: func(r *Reader, p *testPeer) {
		r.Field("name")
		p.name = r.String(32)
		r.Field("port")
		p.port = r.Uint16()
		r.Field("score")
		if r.Opt() {
			s := r.Int32()
			p.score = &s
		}
		r.Field("tags")
		p.tags = List(r, 8, NoLimit, func(r *Reader) string { return r.String(NoLimit) })
	},
	Append: func(dst []byte, p *testPeer) ([]byte, error) {
		dst = AppendString(dst, p.name)
		dst = AppendUint16(dst, p.port)
		dst = AppendOpt(dst, p.score != nil)
		if p.score != nil {
			dst = AppendInt32(dst, *p.score)
		}
		return AppendList(dst, p.tags, 8, AppendString)
	},
}

// FuzzZarith reads an n then a z and checks that canonical inputs come
// back byte for byte (z minus zero is the one non-canonical spelling).
func FuzzZarith(f *testing.F) {
	f.Add([]byte{0xac, 0x02, 0xc0, 0x01})
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0x00, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := MakeReader(in)
		n := r.N(64)
		z := r.Z(64)
		if err := r.Finish("zarith"); err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := AppendN(nil, n)
		require.NoError(t, err)
		out = AppendZ(out, z)
		if z.Sign() == 0 && in[len(in)-1] == 0x40 {
			require.Equal(t, in[:len(in)-1], out[:len(out)-1])
			return
		}
		require.Equal(t, in, out)
	})
}

// FuzzRegions nests dynamic_size, check_size, a union and lists, so the
// bounds bookkeeping of Begin*/End meets arbitrary input.
func FuzzRegions(f *testing.F) {
	f.Add([]byte{0, 0, 0, 5, 2, 0, 3, 0, 4, 1, 9})
	f.Add([]byte{0, 0, 0, 0, 3})
	f.Add([]byte{0, 0, 0, 2, 1, 1, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := MakeReader(in)
		c := r.BeginCheckSize(16)
		shapes := List(&r, 4, NoLimit, shapeUnion.Read)
		r.End(c)
		s := r.BeginDynamic8(8)
		tail := r.Rest()
		r.End(s)
		if err := r.Finish("regions"); err != nil {
			requireDecodeError(t, err)
			return
		}
		out, err := AppendList(nil, shapes, 4, func(dst []byte, v shape) []byte {
			if v.kind == "circle" {
				return append(shapeUnion.AppendTag(dst, 1), v.radius)
			}
			return AppendUint16(AppendUint16(shapeUnion.AppendTag(dst, 2), v.w), v.h)
		})
		require.NoError(t, err)
		out, start := BeginDynamic8(out)
		out, err = EndDynamic8(append(out, tail...), start)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
}

// FuzzListMin reads a list of byte strings (4 bytes at least each) then
// a Variable.list of uint16s (2 at least) from arbitrary input: neither
// holds room for more elements than its bytes allow, and what decodes
// is written back byte for byte.
func FuzzListMin(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2})
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := MakeReader(in)
		var listBytes int
		if len(in) >= 4 {
			listBytes = int(in[0])<<24 | int(in[1])<<16 | int(in[2])<<8 | int(in[3])
		}
		items := ListMin(&r, NoLimit, NoLimit, 4, func(r *Reader) []byte { return r.Bytes(NoLimit) })
		rest := r.Remaining()
		tail := VariableListMin(&r, 100, 2, readU16)
		if err := r.Finish("lists"); err != nil {
			requireDecodeError(t, err)
			return
		}
		require.LessOrEqual(t, cap(items), MaxElements(listBytes, 4))
		require.LessOrEqual(t, cap(tail), min(100, MaxElements(rest, 2)))
		out, err := AppendList(nil, items, NoLimit, AppendBytes)
		require.NoError(t, err)
		out, err = AppendVariableList(out, tail, 100, AppendUint16)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
}

// FuzzVariableBeforeFixed reads octez's "Variable field before a Fixed
// one" layout (obj3 (Variable.list uint16) (Fixed.bytes 3) uint8) from
// arbitrary input: it decodes exactly when the input is the 4-byte tail
// after an even number of bytes, and what decodes is written back.
func FuzzVariableBeforeFixed(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 'a', 'b', 'c', 9})
	f.Add([]byte{'a', 'b', 'c', 9})
	f.Add([]byte{0, 1, 'a', 'b'})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := MakeReader(in)
		s := r.BeginVariable(3 + 1)
		list := VariableListMin(&r, NoLimit, 2, func(r *Reader) uint16 { return r.Uint16() })
		r.End(s)
		id := r.Fixed(3)
		n := r.Uint8()
		err := r.Finish("variable before fixed")
		if len(in) < 4 || (len(in)-4)%2 != 0 {
			require.Error(t, err)
			requireDecodeError(t, err)
			return
		}
		require.NoError(t, err)
		var out []byte
		for _, v := range list {
			out = AppendUint16(out, v)
		}
		out = append(append(out, id...), n)
		require.Equal(t, in, out)
	})
}
