package p2ppool

// ring is the package's one ring buffer: a FIFO of at most max entries,
// oldest first. Its storage grows as entries arrive, up to max, so a
// large bound costs nothing until it is used. It is not safe for
// concurrent use: each owner guards it with its own lock (a peer's or
// point's history with the pool's, a Watcher's buffer and a connection's
// application queue with theirs).
//
// The three uses differ only in what happens when it is full: a history
// forgets its oldest entry (add), a watcher and a queue refuse the new one
// (push reports false, and the caller counts the drop or waits for room).
type ring[T any] struct {
	buf  []T // len(buf) is the storage in use, at most max
	head int // index of the oldest entry
	n    int // entries held
	max  int
}

func newRing[T any](max int) ring[T] { return ring[T]{max: max} }

// len returns how many entries are held.
func (r *ring[T]) len() int { return r.n }

// capacity returns the bound given to newRing.
func (r *ring[T]) capacity() int { return r.max }

// push appends v as the newest entry, or reports false if the ring is
// full.
func (r *ring[T]) push(v T) bool {
	if r.n >= r.max {
		return false
	}
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
	return true
}

// add appends v as the newest entry, forgetting the oldest if the ring is
// full (octez's bounded histories, Ring.add).
func (r *ring[T]) add(v T) {
	if r.max <= 0 {
		return
	}
	if r.n == r.max {
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
		return
	}
	r.push(v)
}

// pop removes and returns the oldest entry, clearing its slot so the ring
// keeps no reference to it.
func (r *ring[T]) pop() (v T, ok bool) {
	if r.n == 0 {
		return v, false
	}
	var zero T
	v, r.buf[r.head] = r.buf[r.head], zero
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return v, true
}

// at returns the i-th oldest entry (0 is the oldest); i < len().
func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }

// list returns a copy, oldest first.
func (r *ring[T]) list() []T {
	out := make([]T, r.n)
	for i := range out {
		out[i] = *r.at(i)
	}
	return out
}

// grow makes room for one more entry (r.n == len(r.buf) < r.max): the
// storage doubles, up to max, with the entries moved to its start.
func (r *ring[T]) grow() {
	size := min(max(2*len(r.buf), 4), r.max)
	buf := make([]T, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// ringKeep is the storage an empty ring keeps (release).
const ringKeep = 64

// release drops the storage of an empty ring past ringKeep entries, so
// that a queue that once held many (an application queue that a burst
// filled) does not keep that memory while it stays small.
func (r *ring[T]) release() {
	if r.n == 0 && len(r.buf) > ringKeep {
		r.buf, r.head = nil, 0
	}
}
