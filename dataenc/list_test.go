package dataenc

import (
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
