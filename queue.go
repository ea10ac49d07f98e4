package p2ppool

import (
	"context"
	"sync"

	pool "github.com/libp2p/go-buffer-pool"
)

// appQueue is a connection's bounded queue of decoded application
// messages, between its reader goroutine and the application. When it is
// full, push blocks: the reader stops reading the socket and TCP pushes
// back on the peer (octez's app pipe). Safe for concurrent use.
type appQueue[Msg any] struct {
	mu sync.Mutex
	// Guarded by mu.
	items []Msg // ring buffer of capacity max
	head  int
	n     int
	err   error // set once by close; pops fail with it once drained

	// readSig and spaceSig hold a wake-up token (capacity 1) for a waiting
	// reader or pusher; a woken waiter re-checks and passes the token on
	// if work remains, so tokens are never lost and nothing is allocated
	// per message. closed is closed by close. Never nil, never replaced.
	readSig  chan struct{}
	spaceSig chan struct{}
	closed   chan struct{}
}

func newAppQueue[Msg any](size int) *appQueue[Msg] {
	return &appQueue[Msg]{
		items:    make([]Msg, size),
		readSig:  make(chan struct{}, 1),
		spaceSig: make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends m, waiting while the queue is full. It fails with the
// close error, or with ctx's cause.
func (q *appQueue[Msg]) push(ctx context.Context, m Msg) error {
	for {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			return q.err
		}
		if q.n < len(q.items) {
			q.items[(q.head+q.n)%len(q.items)] = m
			q.n++
			room := q.n < len(q.items)
			q.mu.Unlock()
			signal(q.readSig)
			if room {
				signal(q.spaceSig) // pass the token on to another pusher
			}
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.spaceSig:
		case <-q.closed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// pop removes and returns the oldest message, waiting for one. Once the
// queue is closed and drained it fails with the close error.
func (q *appQueue[Msg]) pop(ctx context.Context) (Msg, error) {
	var zero Msg
	for {
		q.mu.Lock()
		if q.n > 0 {
			m := q.items[q.head]
			q.items[q.head] = zero
			q.head = (q.head + 1) % len(q.items)
			q.n--
			more := q.n > 0
			q.mu.Unlock()
			signal(q.spaceSig)
			if more {
				signal(q.readSig) // pass the token on to another reader
			}
			return m, nil
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			return zero, err
		}
		select {
		case <-q.readSig:
		case <-q.closed:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// wait returns when a message can be popped, or with the close error once
// the queue is closed and drained (octez is_readable).
func (q *appQueue[Msg]) wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		n, err := q.n, q.err
		q.mu.Unlock()
		switch {
		case n > 0:
			signal(q.readSig) // leave the token for Read
			return nil
		case err != nil:
			return err
		}
		select {
		case <-q.readSig:
		case <-q.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (q *appQueue[Msg]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// close fails pending and future pushes with err; messages already queued
// can still be popped.
func (q *appQueue[Msg]) close(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return
	}
	q.err = err
	close(q.closed)
}

// outItem is one encoded message waiting for the writer.
type outItem struct {
	b []byte
	// pooled: b came from the buffer pool and the writer gives it back.
	pooled bool
	// done, for WriteSync, receives the write's outcome.
	done chan error
}

func (it *outItem) release(err error) {
	if it.pooled {
		pool.Put(it.b)
	}
	if it.done != nil {
		it.done <- err
	}
	*it = outItem{}
}

// outQueue is a connection's bounded outgoing queue, counted in encoded
// bytes (octez outgoing_message_queue_size). A message is accepted when it
// fits, or when the queue is empty, so one oversized message cannot wedge
// the connection. Safe for concurrent use.
type outQueue struct {
	mu sync.Mutex
	// Guarded by mu. The queued items are items[head:]: the writer takes
	// from the head without moving the rest.
	items []outItem
	head  int
	bytes int
	max   int
	err   error // set once by close
	// wake has room for one token: a push leaves one for the writer.
	// space is closed (and replaced) when the writer takes items and
	// spaceWaiters > 0 (blocked Writes).
	wake         chan struct{}
	space        chan struct{}
	spaceWaiters int
	// batches counts the writer's takes (tests wait for the next one).
	batches uint64
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, wake: make(chan struct{}, 1), space: make(chan struct{})}
}

// push queues it. With block it waits for room (or ctx, or close);
// without, it returns ErrQueueFull when there is none. On failure the item
// is not released: the caller still owns it.
func (q *outQueue) push(ctx context.Context, it outItem, block bool) error {
	for {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			return q.err
		}
		if len(q.items) == q.head || q.bytes+len(it.b) <= q.max {
			q.appendLocked(it)
			q.mu.Unlock()
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return nil
		}
		if !block {
			q.mu.Unlock()
			return ErrQueueFull
		}
		space := q.space
		q.spaceWaiters++
		q.mu.Unlock()
		var err error
		select {
		case <-space:
		case <-ctx.Done():
			err = ctx.Err()
		}
		q.mu.Lock()
		q.spaceWaiters--
		q.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// appendLocked queues it, first moving the queued items to the front of
// the slice when it is full and mostly taken (amortised: at least as many
// items were taken as are moved). q.mu must be held.
func (q *outQueue) appendLocked(it outItem) {
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, it)
	q.bytes += len(it.b)
}

// maxIdleItems is the largest item slice an empty queue keeps, so that a
// burst of small messages does not pin its slice for the connection's life.
const maxIdleItems = 1024

// wakeWritersLocked wakes the Writes waiting for room, if any: without
// waiters no channel is replaced, so taking a batch allocates nothing.
// q.mu must be held.
func (q *outQueue) wakeWritersLocked() {
	if q.spaceWaiters > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
}

// pushLast queues it whatever the bound, for the last message a closing
// connection sends (Shutdown's Disconnect). It fails only once the queue
// is closed; the caller then still owns it.
func (q *outQueue) pushLast(it outItem) error {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return q.err
	}
	q.appendLocked(it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// take moves up to maxBytes of queued items (at least one) into dst,
// waiting for some. It returns false once the queue is closed and, when
// drain is not set, at once even if items remain.
func (q *outQueue) take(dst []outItem, maxBytes int, stop <-chan struct{}) ([]outItem, bool) {
	for {
		q.mu.Lock()
		if queued := q.items[q.head:]; len(queued) > 0 {
			if q.head == 0 && q.bytes <= maxBytes && len(dst) == 0 {
				// All of it: hand the slice over and keep the writer's
				// drained one, moving no item.
				dst, q.items = q.items, dst[:0]
				q.bytes = 0
			} else {
				n, size := 0, 0
				for n < len(queued) && (n == 0 || size+len(queued[n].b) <= maxBytes) {
					size += len(queued[n].b)
					n++
				}
				dst = append(dst, queued[:n]...)
				clear(queued[:n])
				q.head += n
				q.bytes -= size
				if q.head == len(q.items) {
					q.items, q.head = q.items[:0], 0
				}
			}
			if len(q.items) == 0 && cap(q.items) > maxIdleItems {
				q.items = nil
			}
			q.batches++
			q.wakeWritersLocked()
			q.mu.Unlock()
			return dst, true
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			return dst, false
		}
		select {
		case <-q.wake:
		case <-stop:
			return dst, false
		}
	}
}

func (q *outQueue) len() (items, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head, q.bytes
}

// close refuses further pushes with err. Items already queued stay for a
// draining writer; discard releases them.
func (q *outQueue) close(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
		q.wakeWritersLocked()
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// discard releases every queued item with err (WriteSync callers learn
// their message was not sent).
func (q *outQueue) discard(err error) {
	q.mu.Lock()
	items := q.items[q.head:]
	q.items, q.head, q.bytes = nil, 0, 0
	q.mu.Unlock()
	for i := range items {
		items[i].release(err)
	}
}
