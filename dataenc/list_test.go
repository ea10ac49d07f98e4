package dataenc

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readU16(r *Reader) uint16 { return r.Uint16() }

func TestList(t *testing.T) {
	in, err := AppendList(nil, []uint16{1, 2, 3}, NoLimit, AppendUint16)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0, 6, 0, 1, 0, 2, 0, 3}, in)
	r := MakeReader(in)
	assert.Equal(t, []uint16{1, 2, 3}, List(&r, 3, 6, readU16))
	require.NoError(t, r.Finish("list"))

	tests := []struct {
		name            string
		in              []byte
		maxLen, maxLen2 int
		err             error
	}{
		{"too many elements", in, 2, NoLimit, ErrTooLarge},
		{"too many bytes", in, NoLimit, 5, ErrTooLarge},
		{"odd byte count", []byte{0, 0, 0, 3, 0, 1, 0}, NoLimit, NoLimit, ErrTruncated},
		{"prefix past input", []byte{0, 0, 0, 8, 0, 1}, NoLimit, NoLimit, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MakeReader(tt.in)
			assert.Nil(t, List(&r, tt.maxLen, tt.maxLen2, readU16))
			require.ErrorIs(t, r.Finish(tt.name), tt.err)
		})
	}

	// An element that reads nothing would loop forever: refused.
	r = MakeReader([]byte{1})
	VariableList(&r, NoLimit, func(*Reader) struct{} { return struct{}{} })
	require.ErrorIs(t, r.Finish("empty elements"), ErrInvalid)

	// Variable.list takes the rest of the region.
	out, err := AppendVariableList([]byte{9}, []uint16{5}, 1, AppendUint16)
	require.NoError(t, err)
	r = MakeReader(out)
	assert.Equal(t, uint8(9), r.Uint8())
	assert.Equal(t, []uint16{5}, VariableList(&r, 1, readU16))
	require.NoError(t, r.Finish("variable list"))
	_, err = AppendVariableList(nil, []uint16{5, 6}, 1, AppendUint16)
	require.ErrorIs(t, err, ErrTooLarge)
}

type shape struct {
	kind   string
	radius uint8
	w, h   uint16
}

var shapeUnion = Union[shape]{
	Name: "shape",
	Cases: []Case[shape]{
		{Tag: 1, Name: "circle", Read: func(r *Reader) shape { return shape{kind: "circle", radius: r.Uint8()} }},
		{Tag: 2, Name: "rect", Read: func(r *Reader) shape { return shape{kind: "rect", w: r.Uint16(), h: r.Uint16()} }},
	},
}

func TestUnion(t *testing.T) {
	r := MakeReader([]byte{2, 0, 3, 0, 4, 1, 9})
	assert.Equal(t, shape{kind: "rect", w: 3, h: 4}, shapeUnion.Read(&r))
	assert.Equal(t, shape{kind: "circle", radius: 9}, shapeUnion.Read(&r))
	require.NoError(t, r.Finish("shapes"))

	r = MakeReader([]byte{3, 0})
	shapeUnion.Read(&r)
	err := r.Finish("shapes")
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "shape: unknown tag 3")

	wide := Union[shape]{Name: "wide", TagSize: 2, Cases: shapeUnion.Cases}
	b := wide.AppendTag(nil, 1)
	assert.Equal(t, []byte{0, 1}, b)
	r = MakeReader(append(b, 5))
	assert.Equal(t, shape{kind: "circle", radius: 5}, wide.Read(&r))
	require.NoError(t, r.Finish("wide"))
	assert.Equal(t, []byte{1}, shapeUnion.AppendTag(nil, 1))
}

func TestCodecBounds(t *testing.T) {
	c := Codec[[]byte]{
		Name:    "blob",
		MaxSize: 4,
		Read:    func(r *Reader, v *[]byte) { *v = r.Rest() },
		Append:  func(dst []byte, v *[]byte) ([]byte, error) { return append(dst, *v...), nil },
	}
	_, err := c.Decode([]byte{1, 2, 3, 4, 5})
	require.ErrorIs(t, err, ErrTooLarge)
	v := []byte{1, 2, 3, 4, 5}
	out, err := c.Encode([]byte{9}, &v)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, []byte{9}, out)

	// As a field, MaxSize is a check_size.
	r := MakeReader([]byte{1, 2, 3, 4, 5})
	var got []byte
	c.ReadFrom(&r, &got)
	require.ErrorIs(t, r.Finish("field"), ErrTooLarge)
}

func readEmptyBytes(r *Reader) []byte { return r.Bytes(NoLimit) }

// TestListMinBoundsElements: a list's element count is bounded by its
// bytes over the element's minimum size, and an element under that
// minimum is refused (the bound would be wrong).
func TestListMinBoundsElements(t *testing.T) {
	assert.Equal(t, 0, MaxElements(0, 4))
	assert.Equal(t, 0, MaxElements(-3, 4))
	assert.Equal(t, 2, MaxElements(11, 4))
	assert.Equal(t, 11, MaxElements(11, 0), "no element is smaller than a byte")

	in, err := AppendList(nil, [][]byte{{}, {1}, {}}, NoLimit, AppendBytes)
	require.NoError(t, err)
	r := MakeReader(in)
	got := ListMin(&r, NoLimit, NoLimit, 4, readEmptyBytes)
	require.NoError(t, r.Finish("bytes list"))
	assert.Equal(t, [][]byte{{}, {1}, {}}, got)
	assert.LessOrEqual(t, cap(got), (len(in)-4)/4, "room for no more elements than the bytes allow")

	// One-byte elements under a declared minimum of two.
	r = MakeReader([]byte{0, 0, 0, 2, 7, 8})
	assert.Nil(t, ListMin(&r, NoLimit, NoLimit, 2, func(r *Reader) uint8 { return r.Uint8() }))
	require.ErrorIs(t, r.Finish("short elements"), ErrInvalid)

	// maxLength bounds the allocation as it bounds the count.
	in, err = AppendList(nil, make([]uint16, 1000), NoLimit, AppendUint16)
	require.NoError(t, err)
	r = MakeReader(in)
	assert.Nil(t, ListMin(&r, 3, NoLimit, 2, readU16))
	require.ErrorIs(t, r.Finish("long list"), ErrTooLarge)
	in, err = AppendList(nil, []uint16{1, 2, 3}, NoLimit, AppendUint16)
	require.NoError(t, err)
	r = MakeReader(in)
	got16 := ListMin(&r, 3, NoLimit, 2, readU16)
	require.NoError(t, r.Finish("short list"))
	assert.Equal(t, 3, cap(got16))
}

// TestListAllocationFollowsTheWire is the fitness attack on the decoder
// alone: a list of a million empty byte strings (4 MiB on the wire)
// allocates its slice once at its final size after the first small one,
// not by doubling (append's growth allocates about five times the final
// slice, and holds two at once while copying), and a list of uneven
// elements still stays within its bound.
func TestListAllocationFollowsTheWire(t *testing.T) {
	const n = 1 << 20
	in := make([]byte, 4+4*n)
	binary.BigEndian.PutUint32(in, 4*n)
	var got [][]byte
	allocated := totalAlloc(func() {
		r := MakeReader(in)
		got = ListMin(&r, NoLimit, NoLimit, 4, readEmptyBytes)
		require.NoError(t, r.Finish("fitness"))
	})
	require.Len(t, got, n)
	assert.Equal(t, n, cap(got), "sized from the bytes")
	final := int64(n) * 24
	t.Logf("%d elements: %d bytes allocated, slice of %d", n, allocated, final)
	assert.Less(t, allocated, final+final/8, "one allocation at the final size (plus the first small one)")

	// Uneven: one large element, then many small ones. The prediction
	// from the first falls short; the slice doubles, never past the
	// bound.
	big := AppendBytes(nil, make([]byte, 4000))
	body := append([]byte{}, big...)
	for range 3000 {
		body = AppendBytes(body, nil)
	}
	r := MakeReader(body)
	got = VariableListMin(&r, NoLimit, 4, readEmptyBytes)
	require.NoError(t, r.Finish("uneven"))
	require.Len(t, got, 3001)
	assert.LessOrEqual(t, cap(got), MaxElements(len(body), 4))
}

// totalAlloc returns the bytes f allocates.
func totalAlloc(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}
