package dataenc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderIntegers(t *testing.T) {
	in := []byte{
		0x80, 0xFF, // uint8, int8 -1
		0xAB, 0xCD, 0xFF, 0xFE, // uint16, int16 -2
		0xDE, 0xAD, 0xBE, 0xEF, 0x80, 0, 0, 0, // uint32, int32 min
		1, 2, 3, 4, 5, 6, 7, 8, // uint64
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD, // int64 -3
	}
	r := MakeReader(in)
	assert.Equal(t, uint8(0x80), r.Uint8())
	assert.Equal(t, int8(-1), r.Int8())
	assert.Equal(t, uint16(0xABCD), r.Uint16())
	assert.Equal(t, int16(-2), r.Int16())
	assert.Equal(t, uint32(0xDEADBEEF), r.Uint32())
	assert.Equal(t, int32(-1<<31), r.Int32())
	assert.Equal(t, uint64(0x0102030405060708), r.Uint64())
	assert.Equal(t, int64(-3), r.Int64())
	require.NoError(t, r.Finish("ints"))

	var out []byte
	out = AppendUint8(out, 0x80)
	out = AppendInt8(out, -1)
	out = AppendUint16(out, 0xABCD)
	out = AppendInt16(out, -2)
	out = AppendUint32(out, 0xDEADBEEF)
	out = AppendInt32(out, -1<<31)
	out = AppendUint64(out, 0x0102030405060708)
	out = AppendInt64(out, -3)
	assert.Equal(t, in, out)
}

func TestReaderRanges(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(*Reader) any
		want any
		err  error
	}{
		{"uint30 max", []byte{0x3F, 0xFF, 0xFF, 0xFF}, func(r *Reader) any { return r.Uint30() }, MaxLength, nil},
		// octez's reader accepts any non-negative int32 as a uint30
		// (binary_reader.ml 80-89), above its writer's 2^30-1.
		{"uint30 2^30", []byte{0x40, 0, 0, 0}, func(r *Reader) any { return r.Uint30() }, 1 << 30, nil},
		{"uint30 2^31-1", []byte{0x7F, 0xFF, 0xFF, 0xFF}, func(r *Reader) any { return r.Uint30() }, 1<<31 - 1, nil},
		{"uint30 2^31", []byte{0x80, 0, 0, 0}, func(r *Reader) any { return r.Uint30() }, 0, ErrInvalid},
		{"uint30 -1", []byte{0xFF, 0xFF, 0xFF, 0xFF}, func(r *Reader) any { return r.Uint30() }, 0, ErrInvalid},
		{"int31 min", []byte{0xC0, 0, 0, 0}, func(r *Reader) any { return r.Int31() }, int32(-1 << 30), nil},
		{"int31 below", []byte{0xBF, 0xFF, 0xFF, 0xFF}, func(r *Reader) any { return r.Int31() }, int32(0), ErrInvalid},
		{"ranged uint8 offset", []byte{5}, func(r *Reader) any { return r.RangedInt(10, 20) }, 15, nil},
		{"ranged uint8 over", []byte{11}, func(r *Reader) any { return r.RangedInt(10, 20) }, 0, ErrInvalid},
		{"ranged int8", []byte{0xFE}, func(r *Reader) any { return r.RangedInt(-5, 5) }, -2, nil},
		{"ranged int16", []byte{0x7F, 0xFF}, func(r *Reader) any { return r.RangedInt(-1000, 1000) }, 0, ErrInvalid},
		{"ranged uint16", []byte{0x01, 0x00}, func(r *Reader) any { return r.RangedInt(0, 1000) }, 256, nil},
		{"ranged int31", []byte{0, 1, 0, 0}, func(r *Reader) any { return r.RangedInt(0, 1<<20) }, 65536, nil},
		{"option none", []byte{0}, func(r *Reader) any { return r.Option() }, false, nil},
		{"option some", []byte{1}, func(r *Reader) any { return r.Option() }, true, nil},
		{"option bad tag", []byte{0xFF}, func(r *Reader) any { return r.Option() }, false, ErrInvalid},
		{"opt lenient", []byte{0x01}, func(r *Reader) any { return r.Opt() }, true, nil},
		{"bool lenient", []byte{0x7F}, func(r *Reader) any { return r.Bool() }, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MakeReader(tt.in)
			got := tt.read(&r)
			err := r.Finish(tt.name)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	// The writers invert the readers for in-range values.
	for _, c := range []struct{ v, min, max int }{{15, 10, 20}, {-2, -5, 5}, {-700, -1000, 1000}, {256, 0, 1000}, {65536, 0, 1 << 20}} {
		r := MakeReader(AppendRangedInt(nil, c.v, c.min, c.max))
		assert.Equal(t, c.v, r.RangedInt(c.min, c.max))
		require.NoError(t, r.Finish("ranged"))
	}
	assert.Equal(t, []byte{0, 1, 0xFF, 0}, AppendOption(AppendOpt(AppendOption(AppendOpt(nil, false), true), true), false)[:4])
}

func TestReaderBytes(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"empty", []byte{0, 0, 0, 0}, 10, []byte{}, nil},
		{"three", []byte{0, 0, 0, 3, 'a', 'b', 'c'}, 3, []byte("abc"), nil},
		{"no limit", []byte{0, 0, 0, 1, 'a'}, NoLimit, []byte("a"), nil},
		{"over max", []byte{0, 0, 0, 4, 'a', 'b', 'c', 'd'}, 3, nil, ErrTooLarge},
		{"claims 4 GiB", []byte{0xFF, 0xFF, 0xFF, 0xFF, 'a'}, NoLimit, nil, ErrTooLarge},
		{"claims 2^30", []byte{0x40, 0, 0, 0}, NoLimit, nil, ErrTooLarge},
		{"claims 2^30-1 with 1 byte", []byte{0x3F, 0xFF, 0xFF, 0xFF, 'a'}, NoLimit, nil, ErrTruncated},
		{"longer than input", []byte{0, 0, 0, 5, 'a'}, 10, nil, ErrTruncated},
		{"short prefix", []byte{0, 0, 0}, 10, nil, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MakeReader(tt.in)
			got := r.Bytes(tt.max)
			remaining := r.Remaining()
			err := r.Finish("bytes")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				assert.Zero(t, remaining, "cursor jumps to the end on error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, AppendBytes(nil, got))
			assert.Equal(t, tt.in, AppendString(nil, string(got)))
			assert.Equal(t, len(got), cap(got), "capacity clipped")
		})
	}
}

func TestErrorNamesField(t *testing.T) {
	r := MakeReader([]byte{1})
	r.Field("a")
	r.Uint8()
	r.Field("b")
	r.Uint16()
	r.Field("c")
	r.Uint8() // after the failure: zero, error kept
	err := r.Finish("thing")
	assert.EqualError(t, err, "dataenc: decode thing: b: truncated input")
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "thing: b", de.What)

	r = MakeReader([]byte{1, 2})
	r.Uint8()
	assert.EqualError(t, r.Finish("x"), "dataenc: decode x: trailing bytes")
}

func TestDynamicRegions(t *testing.T) {
	// dynamic_size (obj2 uint8 Variable.bytes), then a trailing uint8.
	in := []byte{0, 0, 0, 3, 7, 'h', 'i', 9}
	r := MakeReader(in)
	s := r.BeginDynamic(NoLimit)
	assert.Equal(t, uint8(7), r.Uint8())
	assert.Equal(t, []byte("hi"), r.Rest(), "Rest stops at the region's end")
	r.End(s)
	assert.Equal(t, uint8(9), r.Uint8())
	require.NoError(t, r.Finish("dyn"))

	out, start := BeginDynamic(nil)
	out = append(AppendUint8(out, 7), "hi"...)
	out, err := EndDynamic(out, start)
	require.NoError(t, err)
	assert.Equal(t, in, AppendUint8(out, 9))

	tests := []struct {
		name string
		in   []byte
		read func(r *Reader)
		err  error
	}{
		{"contents left over", []byte{0, 0, 0, 2, 1, 2}, func(r *Reader) { s := r.BeginDynamic(NoLimit); r.Uint8(); r.End(s) }, ErrTrailingBytes},
		{"contents read past", []byte{0, 0, 0, 1, 1, 2}, func(r *Reader) { s := r.BeginDynamic(NoLimit); r.Uint16(); r.End(s); r.Uint8() }, ErrTruncated},
		{"prefix over max", []byte{0, 0, 0, 9}, func(r *Reader) { s := r.BeginDynamic(8); r.End(s) }, ErrTooLarge},
		{"prefix past input", []byte{0, 0, 0, 9, 1}, func(r *Reader) { s := r.BeginDynamic(NoLimit); r.End(s) }, ErrTruncated},
		{"uint8 prefix over max", []byte{3, 1, 2, 3}, func(r *Reader) { s := r.BeginDynamic8(2); r.Rest(); r.End(s) }, ErrTooLarge},
		{"uint16 prefix past input", []byte{0, 3, 1, 2}, func(r *Reader) { s := r.BeginDynamic16(NoLimit); r.Rest(); r.End(s) }, ErrTruncated},
		{"check_size exceeded by a field", []byte{1, 2, 3}, func(r *Reader) { s := r.BeginCheckSize(2); r.Uint8(); r.Uint16(); r.End(s) }, ErrTooLarge},
		{"check_size exceeded by Rest", []byte{1, 2, 3}, func(r *Reader) { s := r.BeginCheckSize(2); r.Rest(); r.End(s) }, ErrTooLarge},
		{"check_size exceeded by a prefix", []byte{0, 0, 0, 4, 1, 2, 3, 4}, func(r *Reader) { s := r.BeginCheckSize(6); r.Bytes(NoLimit); r.End(s) }, ErrTooLarge},
		{"dynamic beyond check_size", []byte{0, 0, 0, 4, 1, 2, 3, 4}, func(r *Reader) {
			c := r.BeginCheckSize(6)
			s := r.BeginDynamic(NoLimit)
			r.Rest()
			r.End(s)
			r.End(c)
		}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MakeReader(tt.in)
			tt.read(&r)
			require.ErrorIs(t, r.Finish(tt.name), tt.err)
		})
	}

	// Within its limit, check_size is invisible, and the limit is lifted
	// by End.
	r = MakeReader([]byte{1, 2, 3, 4})
	c := r.BeginCheckSize(2)
	r.Uint16()
	r.End(c)
	r.Uint16()
	require.NoError(t, r.Finish("check_size"))

	b8, s8 := BeginDynamic8(nil)
	_, err = EndDynamic8(append(b8, make([]byte, 256)...), s8)
	require.ErrorIs(t, err, ErrTooLarge)
	b16, s16 := BeginDynamic16([]byte{9})
	b16, err = EndDynamic16(append(b16, 1, 2), s16)
	require.NoError(t, err)
	assert.Equal(t, []byte{9, 0, 2, 1, 2}, b16)
}

func TestReaderAllocatesNothingForFixedFields(t *testing.T) {
	in := AppendBytes(AppendInt64(AppendUint16(make([]byte, 32), 7), -1), []byte("payload"))
	var hash [32]byte
	allocs := testing.AllocsPerRun(100, func() {
		r := MakeReader(in)
		r.FixedInto(hash[:])
		_ = r.Uint16()
		_ = r.Int64()
		_ = r.Bytes(NoLimit)
		if r.Finish("fixed") != nil {
			panic("decode failed")
		}
	})
	assert.Zero(t, allocs)
}

func TestEncodeErrorUnwraps(t *testing.T) {
	_, err := AppendList(nil, []int{1, 2, 3}, 2, func(b []byte, v int) []byte { return append(b, byte(v)) })
	require.ErrorIs(t, err, ErrTooLarge)
	var ee *EncodeError
	require.True(t, errors.As(err, &ee))
	assert.Contains(t, err.Error(), "dataenc: encode list of 3 elements")
}

func TestRefusingHugeLengthsAllocatesNothing(t *testing.T) {
	in := []byte{0xFF, 0xFF, 0xFF, 0xF0, 1, 2, 3}
	allocs := testing.AllocsPerRun(100, func() {
		r := MakeReader(in)
		r.Field("blob")
		s := r.BeginDynamic(NoLimit)
		r.End(s)
		_ = r.Bytes(NoLimit)
		if !errors.Is(r.Err(), ErrTooLarge) {
			panic("expected ErrTooLarge")
		}
	})
	assert.Zero(t, allocs)
}

// TestAppendUint30 checks the writer keeps octez's writer bound
// (binary_writer.ml 106 with binary_size.ml 92: max_int `Uint30 =
// 2^30-1) although the reader accepts up to 2^31-1.
func TestAppendUint30(t *testing.T) {
	out, err := AppendUint30([]byte{9}, MaxLength)
	require.NoError(t, err)
	assert.Equal(t, []byte{9, 0x3F, 0xFF, 0xFF, 0xFF}, out)
	for _, v := range []int{-1, 1 << 30, MaxUint30Read} {
		out, err := AppendUint30([]byte{9}, v)
		require.ErrorIs(t, err, ErrInvalid, "%d", v)
		var ee *EncodeError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, []byte{9}, out, "dst unchanged")
	}
}

// TestBeginVariable reads octez's "Variable field before a Fixed one"
// layout, which its Kind.combine allows (data-encoding encoding.ml
// 41-58: `Variable, `Fixed _ -> `Variable) and its reader splits by
// giving the variable field the bytes left minus the fixed tail
// (binary_reader.ml 396-403), refusing input shorter than the tail with
// Not_enough_data. Here obj3 (req "data" Variable.bytes) (req "id"
// (Fixed.bytes 2)) (req "n" uint16), and Variable.list uint8 before a
// uint16.
func TestBeginVariable(t *testing.T) {
	readObj := func(r *Reader) (data, id []byte, n uint16) {
		s := r.BeginVariable(2 + 2)
		data = r.Rest()
		r.End(s)
		id = r.Fixed(2)
		n = r.Uint16()
		return
	}
	t.Run("bytes then fixed", func(t *testing.T) {
		in := []byte{'a', 'b', 'c', 0xAA, 0xBB, 0x01, 0x02}
		r := MakeReader(in)
		data, id, n := readObj(&r)
		require.NoError(t, r.Finish("obj"))
		assert.Equal(t, []byte("abc"), data)
		assert.Equal(t, []byte{0xAA, 0xBB}, id)
		assert.Equal(t, uint16(0x0102), n)
	})
	t.Run("empty variable part", func(t *testing.T) {
		r := MakeReader([]byte{0xAA, 0xBB, 0x01, 0x02})
		data, _, n := readObj(&r)
		require.NoError(t, r.Finish("obj"))
		assert.Empty(t, data)
		assert.Equal(t, uint16(0x0102), n)
	})
	t.Run("shorter than the fixed tail", func(t *testing.T) {
		r := MakeReader([]byte{0xAA, 0xBB, 0x01})
		readObj(&r)
		require.ErrorIs(t, r.Finish("obj"), ErrTruncated)
	})
	t.Run("inside a dynamic_size", func(t *testing.T) {
		// dynamic_size (obj2 (Variable.list uint8) uint16), then a byte.
		in := []byte{0, 0, 0, 5, 7, 8, 9, 0x01, 0x02, 0xEE}
		r := MakeReader(in)
		d := r.BeginDynamic(NoLimit)
		s := r.BeginVariable(2)
		list := VariableList(&r, NoLimit, func(r *Reader) uint8 { return r.Uint8() })
		r.End(s)
		n := r.Uint16()
		r.End(d)
		last := r.Uint8()
		require.NoError(t, r.Finish("nested"))
		assert.Equal(t, []uint8{7, 8, 9}, list)
		assert.Equal(t, uint16(0x0102), n)
		assert.Equal(t, uint8(0xEE), last)
	})
	t.Run("variable field under-read", func(t *testing.T) {
		// A variable field that stops short of its share leaves bytes
		// the fixed tail cannot take: octez asserts it consumed all.
		r := MakeReader([]byte{1, 2, 3, 0xAA, 0xBB})
		s := r.BeginVariable(2)
		r.Uint8()
		r.End(s)
		r.Fixed(2)
		require.ErrorIs(t, r.Finish("short"), ErrTrailingBytes)
	})
}
