package dataenc

import "strconv"

// NoLimit, as a maxLength or maxBytes argument, means no bound beyond the
// input's size (and MaxLength for a length prefix).
const NoLimit = -1

// preallocMax caps a list's first allocation, in elements, when its
// element bound is loose (elements larger than their minimum size): a
// large T must not multiply the input's size before elements are read.
const preallocMax = 64

// List reads octez `list ?max_length e` (= dynamic_size (Variable.list
// e)): a uint30 byte length, then elements decoded by elem until those
// bytes are used up. maxBytes bounds the byte length (checked on the
// prefix, before anything is allocated), maxLength the element count
// (octez List_too_long); either may be NoLimit. Each element must consume
// at least one byte, as octez requires of list elements; ListMin takes a
// larger minimum, which bounds the count and the allocation further.
func List[T any](r *Reader, maxLength, maxBytes int, elem func(*Reader) T) []T {
	return ListMin(r, maxLength, maxBytes, 1, elem)
}

// ListMin is List for elements of at least minSize bytes on the wire
// (an octez `bytes` or `string` is at least its 4-byte prefix, a hash its
// 32 bytes): a list of L bytes then has at most L/minSize elements, which
// is the most it allocates room for. An element that consumes fewer bytes
// fails with ErrInvalid.
func ListMin[T any](r *Reader, maxLength, maxBytes, minSize int, elem func(*Reader) T) []T {
	s := r.BeginDynamic(maxBytes)
	out := VariableListMin(r, maxLength, minSize, elem)
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
	return VariableListMin(r, maxLength, 1, elem)
}

// VariableListMin is VariableList for elements of at least minSize bytes
// (see ListMin).
//
// Its allocation follows the bytes: the element count is bounded by
// MaxElements of the bytes left in the region (and maxLength), and the
// slice never grows past that bound. It starts at the bound when the
// bound is small, else at preallocMax elements, and grows to the count
// the average element read so far predicts for the bytes left (at least
// doubling, so that a list of uneven elements is still copied O(n)
// times), so a list of like elements is allocated at most twice, the
// second time at its final size, however many elements it claims.
func VariableListMin[T any](r *Reader, maxLength, minSize int, elem func(*Reader) T) []T {
	if r.err != nil || r.off == r.end {
		return nil
	}
	minSize = max(minSize, 1)
	start := r.off
	bound := MaxElements(r.end-r.off, minSize)
	if maxLength >= 0 {
		// One more than maxLength is never appended: the check below fails
		// first.
		bound = min(bound, maxLength)
	}
	var out []T
	if bound > 0 {
		out = make([]T, 0, min(bound, preallocMax))
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
		if r.off-before < minSize {
			if r.off == before {
				r.Failf(ErrInvalid, "list element of zero bytes")
			} else {
				r.Failf(ErrInvalid, "list element under its minimum size")
			}
			break
		}
		if len(out) == cap(out) {
			out = growList(out, bound, r.off-start, r.end-r.off)
		}
		out = append(out, v)
	}
	if r.err != nil || len(out) == 0 {
		return nil
	}
	return out
}

// growList returns out with room for more elements, never more than
// bound in all (see VariableListMin). It is called when out is full and
// one more element, already read, is to be appended: read bytes gave
// len(out)+1 elements, each of at least one byte, and left bytes remain,
// so len(out) < bound.
func growList[T any](out []T, bound, read, left int) []T {
	n := len(out)
	k := int64(n + 1)
	// The elements to come at the average size so far, rounded up.
	predicted := n + 1 + int((int64(left)*k+int64(read)-1)/int64(read))
	c := min(bound, max(predicted+predicted/8, 2*n))
	grown := make([]T, n, c)
	copy(grown, out)
	return grown
}

// MaxElements is the element bound a list of n bytes gives when each
// element takes at least minSize bytes on the wire: n/minSize. Decoders
// use it to size what they allocate, and encodings to bound the memory a
// decoded message may hold (see p2ppool.Encoding.DecodedSize).
func MaxElements(n, minSize int) int {
	if n <= 0 {
		return 0
	}
	return n / max(minSize, 1)
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
