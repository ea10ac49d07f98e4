package dataenc

// Span is an open dynamic_size region or check_size limit of a Reader,
// returned by BeginDynamic and BeginCheckSize and closed by End.
type Span struct {
	dynamic bool
	saved   int // the bound to restore
	end     int // for a region, where it must end
}

// BeginDynamic opens octez `dynamic_size e` (uint30 prefix): it reads the
// byte length L and bounds the reads that follow to those L bytes, until
// End. L > max (negative: MaxLength) fails with ErrTooLarge and L beyond the
// current region with ErrTruncated, both before the contents are read.
func (r *Reader) BeginDynamic(max int) Span {
	n, _ := r.length(max)
	return r.openRegion(n)
}

// BeginDynamic8 is BeginDynamic for `dynamic_size ~kind:`Uint8 e`: a
// one-byte length prefix.
func (r *Reader) BeginDynamic8(max int) Span {
	n := int(r.Uint8())
	if r.err == nil && max >= 0 && n > max {
		r.Failf(ErrTooLarge, "length prefix over its bound")
	}
	return r.openRegion(n)
}

// BeginDynamic16 is BeginDynamic for `dynamic_size ~kind:`Uint16 e`.
func (r *Reader) BeginDynamic16(max int) Span {
	n := int(r.Uint16())
	if r.err == nil && max >= 0 && n > max {
		r.Failf(ErrTooLarge, "length prefix over its bound")
	}
	return r.openRegion(n)
}

func (r *Reader) openRegion(n int) Span {
	s := Span{dynamic: true, saved: r.end}
	if r.err != nil {
		s.end = r.off
		return s
	}
	if n > r.lim-r.off {
		r.Failf(ErrTooLarge, "dynamic_size beyond check_size")
		s.end = r.off
		return s
	}
	if n > r.end-r.off {
		r.Fail(ErrTruncated)
		s.end = r.off
		return s
	}
	s.end = r.off + n
	r.end = s.end
	return s
}

// BeginVariable opens the variable-size field of octez's "Variable field
// before a Fixed one" layout: an obj or tup whose variable-size field
// (Variable.bytes, Variable.list, ...) is followed only by fixed-size
// fields, fixedTail bytes in all. octez allows it (data-encoding
// encoding.ml 41-58, Kind.combine: `Variable, `Fixed _ -> `Variable) and
// reads it by giving the variable field what remains minus the fixed
// tail (binary_reader.ml 396-403). Reads up to End are bounded to that
// field, which must be consumed exactly, as Rest and VariableList do; the
// fixed fields are then read after End. A region shorter than fixedTail
// fails with ErrTruncated (octez Not_enough_data).
func (r *Reader) BeginVariable(fixedTail int) Span {
	s := Span{dynamic: true, saved: r.end}
	if r.err != nil {
		s.end = r.off
		return s
	}
	if fixedTail < 0 {
		r.Fail(ErrInvalid)
		s.end = r.off
		return s
	}
	if fixedTail > r.end-r.off {
		r.Failf(ErrTruncated, "fixed fields after a variable one")
		s.end = r.off
		return s
	}
	s.end = r.end - fixedTail
	r.end = s.end
	return s
}

// BeginCheckSize opens octez `check_size max e`: reads that would go more
// than max bytes past the current offset fail with ErrTooLarge, until End.
// A value read to the end of its region (Variable.*, Rest) longer than max
// fails at once, from the lengths alone.
func (r *Reader) BeginCheckSize(max int) Span {
	s := Span{saved: r.lim}
	if max >= 0 && max < r.lim-r.off {
		r.lim = r.off + max
	}
	return s
}

// End closes s, the most recent open Span. For a dynamic region it
// requires the contents to be consumed exactly (ErrTrailingBytes
// otherwise, octez Extra_bytes) and restores the enclosing region; for a
// check_size limit it restores the enclosing limit.
func (r *Reader) End(s Span) {
	if !s.dynamic {
		r.lim = s.saved
		return
	}
	if r.err == nil && r.off != s.end {
		r.Failf(ErrTrailingBytes, "bytes left in dynamic_size")
	}
	r.end = s.saved
	if r.err != nil {
		r.off = r.end
	}
}
