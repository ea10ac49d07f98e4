package p2ppool

// ring is a bounded history: the last cap entries, oldest first.
type ring[T any] struct {
	buf  []T
	head int // index of the oldest entry once full
	full bool
	max  int
}

func newRing[T any](max int) ring[T] { return ring[T]{max: max} }

func (r *ring[T]) add(v T) {
	if r.max <= 0 {
		return
	}
	if len(r.buf) < r.max {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.head] = v
	r.head = (r.head + 1) % r.max
}

// list returns a copy, oldest first.
func (r *ring[T]) list() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.head:]...)
	return append(out, r.buf[:r.head]...)
}
