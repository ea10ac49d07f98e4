package dataenc

import "strconv"

// Codec is the binary encoding of one type T: how to read it from a Reader
// and append it, plus its name and size bound. Read and Append are the
// hand-written halves (see the package example); Decode and Encode wrap
// them with the bound, the trailing-bytes check and the error naming. A
// Codec holds no state and is safe for concurrent use if Read and Append
// are.
type Codec[T any] struct {
	// Name names T in errors.
	Name string
	// MaxSize bounds the encoded size (octez check_size); zero means no
	// bound beyond the input's size.
	MaxSize int
	// Read decodes into v, recording failures on r.
	Read func(r *Reader, v *T)
	// Append appends the binary form of v to dst.
	Append func(dst []byte, v *T) ([]byte, error)
	// DecodedSize, if set, bounds the memory a T decoded from n bytes
	// holds (its copies, slices and what they point to), for whatever
	// bytes; MaxElements bounds a list's count. A pool budgets received
	// messages with it (p2ppool.CodecEncoding passes it on). Optional.
	DecodedSize func(n int) int
}

// Decode decodes exactly b. Input over MaxSize fails with ErrTooLarge
// before Read runs; byte slices in the result may alias b.
func (c Codec[T]) Decode(b []byte) (T, error) {
	var v T
	if c.MaxSize > 0 && len(b) > c.MaxSize {
		return v, decodeErr(c.Name, strconv.Itoa(len(b))+" bytes over "+strconv.Itoa(c.MaxSize), ErrTooLarge)
	}
	r := MakeReader(b)
	c.Read(&r, &v)
	if err := r.Finish(c.Name); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// ReadFrom decodes one T from r, inside a check_size of MaxSize when set.
// It is how a Codec is used as a field of a larger value.
func (c Codec[T]) ReadFrom(r *Reader, v *T) {
	if c.MaxSize > 0 {
		s := r.BeginCheckSize(c.MaxSize)
		c.Read(r, v)
		r.End(s)
		return
	}
	c.Read(r, v)
}

// Encode appends v to dst. An encoding over MaxSize fails with an
// *EncodeError wrapping ErrTooLarge, and dst is returned unchanged.
func (c Codec[T]) Encode(dst []byte, v *T) ([]byte, error) {
	start := len(dst)
	out, err := c.Append(dst, v)
	if err != nil {
		return dst, err
	}
	if n := len(out) - start; c.MaxSize > 0 && n > c.MaxSize {
		return dst, &EncodeError{What: c.Name + " of " + strconv.Itoa(n) + " bytes over " + strconv.Itoa(c.MaxSize), Err: ErrTooLarge}
	}
	return out, nil
}
