package dataenc

import "strconv"

// Case is one case of a Union: its tag and how to read its contents
// (the bytes after the tag).
type Case[T any] struct {
	// Tag is the case's tag on the wire.
	Tag uint16
	// Name names the case in errors (octez ~title).
	Name string
	// Read decodes the case's contents.
	Read func(r *Reader) T
}

// Union is octez `union ~tag_size cases`: a tag of TagSize bytes (1 for
// `Uint8, the default, or 2 for `Uint16), then the contents of the case
// with that tag. An unknown tag fails with ErrInvalid. Writing is
// AppendTag then the case's own contents. A Union is immutable once built
// and safe for concurrent use.
type Union[T any] struct {
	// Name names the union in errors.
	Name string
	// TagSize is 1 or 2; zero means 1.
	TagSize int
	// Cases are looked up by tag; at most a few dozen, so a linear scan.
	Cases []Case[T]
}

// Read reads a tag and the contents of its case.
func (u *Union[T]) Read(r *Reader) T {
	var tag uint16
	if u.TagSize == 2 {
		tag = r.Uint16()
	} else {
		tag = uint16(r.Uint8())
	}
	var zero T
	if r.err != nil {
		return zero
	}
	for i := range u.Cases {
		if u.Cases[i].Tag == tag {
			return u.Cases[i].Read(r)
		}
	}
	r.Failf(ErrInvalid, u.Name+": unknown tag "+strconv.Itoa(int(tag)))
	return zero
}

// AppendTag appends tag on TagSize bytes.
func (u *Union[T]) AppendTag(dst []byte, tag uint16) []byte {
	if u.TagSize == 2 {
		return AppendUint16(dst, tag)
	}
	return append(dst, byte(tag))
}
