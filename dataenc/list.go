package dataenc

import "strconv"

// NoLimit, as a maxLength or maxBytes argument, means no bound beyond the
// input's size (and MaxLength for a length prefix).
const NoLimit = -1

// preallocMax caps VariableList's up-front allocation, in elements.
const preallocMax = 64

// List reads octez `list ?max_length e` (= dynamic_size (Variable.list
// e)): a uint30 byte length, then elements decoded by elem until those
// bytes are used up. maxBytes bounds the byte length (checked on the
// prefix, before anything is allocated), maxLength the element count
// (octez List_too_long); either may be NoLimit. Each element must consume
// at least one byte, as octez requires of list elements.
func List[T any](r *Reader, maxLength, maxBytes int, elem func(*Reader) T) []T {
	s := r.BeginDynamic(maxBytes)
	out := VariableList(r, maxLength, elem)
	r.End(s)
	if r.err != nil {
		return nil
	}
	return out
}

// VariableList reads octez `Variable.list ?max_length e`: elements up to
// the end of the current region, which must therefore be the last field of
// its region. See List for the bounds.
func VariableList[T any](r *Reader, maxLength int, elem func(*Reader) T) []T {
	var out []T
	if maxLength >= 0 && r.err == nil {
		// A short bounded list is allocated once: at most maxLength
		// elements, never more than the bytes present (each takes at least
		// one), and never more than preallocMax, so that a large T cannot
		// multiply the input's size before elements are actually read.
		out = make([]T, 0, min(maxLength, r.end-r.off, preallocMax))
	}
	for r.err == nil && r.off < r.end {
		if maxLength >= 0 && len(out) >= maxLength {
			r.Failf(ErrTooLarge, "list longer than "+strconv.Itoa(maxLength))
			break
		}
		before := r.off
		v := elem(r)
		if r.err != nil {
			break
		}
		if r.off == before {
			r.Failf(ErrInvalid, "list element of zero bytes")
			break
		}
		out = append(out, v)
	}
	if r.err != nil || len(out) == 0 {
		return nil
	}
	return out
}

// AppendList appends items as octez `list ?max_length e`, each element
// written by elem. More than maxLength items (unless NoLimit) or more than
// MaxLength bytes fail with an *EncodeError wrapping ErrTooLarge, and dst
// is returned unchanged.
func AppendList[T any](dst []byte, items []T, maxLength int, elem func([]byte, T) []byte) ([]byte, error) {
	if maxLength >= 0 && len(items) > maxLength {
		return dst, &EncodeError{What: "list of " + strconv.Itoa(len(items)) + " elements, max_length " + strconv.Itoa(maxLength), Err: ErrTooLarge}
	}
	out, start := BeginDynamic(dst)
	for _, it := range items {
		out = elem(out, it)
	}
	return EndDynamic(out, start)
}

// AppendVariableList appends items as octez `Variable.list ?max_length e`
// (no prefix). More than maxLength items fail as in AppendList.
func AppendVariableList[T any](dst []byte, items []T, maxLength int, elem func([]byte, T) []byte) ([]byte, error) {
	if maxLength >= 0 && len(items) > maxLength {
		return dst, &EncodeError{What: "list of " + strconv.Itoa(len(items)) + " elements, max_length " + strconv.Itoa(maxLength), Err: ErrTooLarge}
	}
	for _, it := range items {
		dst = elem(dst, it)
	}
	return dst, nil
}
