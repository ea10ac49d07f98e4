package p2ppool

import "sync"

// fifoBlock is how many entries a fifo block holds.
const fifoBlock = 128

// fifo is a FIFO of at most max entries, oldest first, kept in blocks of
// fifoBlock entries that a blockPool lends as entries arrive and takes
// back as they leave: a connection's application queue, which may hold
// a few messages or tens of thousands (octez's two stages, fitsLocked)
// and is often emptied between bursts. A ring that doubles its storage
// as it fills and drops it once empty copied and reallocated at every
// burst (11% of the CPU of 100-byte messages); one that keeps its
// storage keeps the largest burst's. Here a burst costs a block per
// fifoBlock entries, from and back to the pool, nothing is copied, and
// an empty fifo holds no block. Not safe for concurrent use: its owner
// guards it.
type fifo[T any] struct {
	blocks []*[fifoBlock]T
	head   int // index of the oldest entry in blocks[0]
	n      int // entries held
	max    int
	pool   *blockPool[T] // nil: blocks are allocated and dropped
}

func newFIFO[T any](max int, pool *blockPool[T]) fifo[T] {
	return fifo[T]{max: max, pool: pool}
}

// len returns how many entries are held.
func (f *fifo[T]) len() int { return f.n }

// capacity returns the bound given to newFIFO.
func (f *fifo[T]) capacity() int { return f.max }

// push appends v as the newest entry, or reports false if the fifo is
// full.
func (f *fifo[T]) push(v T) bool {
	if f.n >= f.max {
		return false
	}
	g := f.head + f.n
	if g/fifoBlock == len(f.blocks) {
		f.blocks = append(f.blocks, f.pool.get())
	}
	f.blocks[g/fifoBlock][g%fifoBlock] = v
	f.n++
	return true
}

// pop removes and returns the oldest entry, clearing its slot so the fifo
// keeps no reference to it; a block emptied goes back to the pool.
func (f *fifo[T]) pop() (v T, ok bool) {
	if f.n == 0 {
		return v, false
	}
	var zero T
	b := f.blocks[0]
	v, b[f.head] = b[f.head], zero
	f.head++
	f.n--
	if f.head == fifoBlock || f.n == 0 {
		f.pool.put(b)
		f.blocks[0] = nil
		f.blocks = f.blocks[:copy(f.blocks, f.blocks[1:])]
		f.head = 0
	}
	return v, true
}

// at returns the i-th oldest entry (0 is the oldest); i < len().
func (f *fifo[T]) at(i int) *T {
	g := f.head + i
	return &f.blocks[g/fifoBlock][g%fifoBlock]
}

// blockPool lends fifo blocks. One per Pool and message type, shared by
// its connections' queues, so that the blocks of one connection's burst
// serve the next burst of any.
type blockPool[T any] struct{ p sync.Pool }

// get returns a block whose entries are all zero.
func (bp *blockPool[T]) get() *[fifoBlock]T {
	if bp != nil {
		if b, ok := bp.p.Get().(*[fifoBlock]T); ok {
			return b
		}
	}
	return new([fifoBlock]T)
}

// put takes back b, whose entries the fifo has cleared as it popped
// them.
func (bp *blockPool[T]) put(b *[fifoBlock]T) {
	if bp != nil {
		bp.p.Put(b)
	}
}
