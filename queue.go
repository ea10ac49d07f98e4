package p2ppool

import (
	"container/list"
	"context"
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"

	pool "github.com/libp2p/go-buffer-pool"
	"golang.org/x/sync/semaphore"

	"github.com/p2ppool/p2ppool/internal/socket"
)

// appQueue is a connection's bounded queue of decoded application
// messages, between its reader goroutine and the application. It has
// octez's two stages (fitsLocked): the first appCap messages
// (Config.Limits.IncomingAppMessageQueueSize), then as many as the byte
// bound holds (Config.Limits.IncomingMessageQueueSize per connection, each
// message past the first stage counted with queuedOverhead more, and
// Config.Budgets.TotalIncomingQueueSize across the pool through budget).
// A message's bytes are its charge: the larger of its wire size and what
// its decoded form may hold (codec.charge), so that a message small on
// the wire and large in memory counts as large. The reader reserves a
// message's charge as soon as its size and tag are known when it must
// read more of the network to complete it (before it is decoded), or
// when it pushes a message that had arrived whole: when a bound is
// reached, the reader waits, stops reading the socket and TCP pushes back
// on the peer (octez's pipes); nothing is dropped. Safe for concurrent
// use.
type appQueue[Msg any] struct {
	budget   *inBudget
	maxBytes int
	// appCap is the first stage's size in messages
	// (IncomingAppMessageQueueSize): see fitsLocked.
	appCap int
	// onReadable, when set, is called after a push into an empty queue
	// (Pool.Read's ready list). Set before the reader starts; never
	// changed.
	onReadable func()

	mu sync.Mutex
	// Guarded by mu.
	items fifo[appItem[Msg]]
	// bytes counts the queued messages and the reserved one; free the
	// part of them held outside the pool's budget (at most
	// freeAllowance); reserved is the reservation not yet pushed or
	// released (size 0 for none).
	bytes, free int
	reserved    appItem[Msg]
	err         error // set once by close; pops fail with it once drained
	// readWaiters and spaceWaiters count the goroutines waiting for a
	// message and for room: a push or pop signals only when someone
	// waits, so the common case costs no channel operation. spaceNeed is
	// the size the reader waits to reserve.
	readWaiters, spaceWaiters int
	spaceNeed                 int

	// readSig and spaceSig hold a wake-up token (capacity 1) for a waiting
	// reader or reserver; a woken waiter re-checks and passes the token on
	// if work remains, so tokens are never lost and nothing is allocated
	// per message. closed is closed by close. Guarded by mu: each is made
	// by the first waiter that needs it (waitChans), under mu, and never
	// replaced, so a signaller that saw a waiter under mu sees the
	// channel; until then a token has no one to wake. A connection whose
	// messages Pool.Read takes, and whose reader never waits for room,
	// makes none (three channels, 288 bytes, per connection end).
	readSig  chan struct{}
	spaceSig chan struct{}
	closed   chan struct{}

	// unreleased is the pool's budget of messages popped and not yet
	// given back (under releaseStep, while messages remain); guarded
	// by mu.
	unreleased int64

	// endedElem is the queue's entry in budget.ended while it is closed
	// and holds unread messages. Guarded by budget.endedMu.
	endedElem *list.Element
	// endedCharge is what the closed queue holds of the budget for the
	// connection it keeps alive (endedOverhead) until its messages are
	// read or dropped; guarded by mu.
	endedCharge int64
}

// releaseStep is how much of the pool's budget a queue's pops gather
// before giving it back: a connection may hold up to this much of the
// budget for messages already read, until its queue empties.
const releaseStep = 16 << 10

// appItem is a queued message with the bytes it is charged: size against
// the connection's bound, pooled the part of it against the pool's.
type appItem[Msg any] struct {
	m      Msg
	size   int
	pooled int64
}

// stagePool lends the readers of a pool's connections the slices in which
// they stage the messages of one read (Connection.deliver): a slice grown
// afresh for each batch was 5% of the CPU of 100-byte messages, and one
// kept per connection would hold memory while the connection is idle.
type stagePool[Msg any] struct{ p sync.Pool }

// get returns a slice with room for maxStaged messages.
func (s *stagePool[Msg]) get() *[]appItem[Msg] {
	if b, ok := s.p.Get().(*[]appItem[Msg]); ok {
		return b
	}
	b := make([]appItem[Msg], 0, maxStaged)
	return &b
}

// put gives back b, holding items (b's own array, maybe grown), cleared
// so that it keeps no message alive. Only items' length is cleared: what
// lies past it is zero already (flush clears what it queued, and a lent
// slice only grows by append), so a batch of one message costs no 10 KB
// clear.
func (s *stagePool[Msg]) put(b *[]appItem[Msg], items []appItem[Msg]) {
	if cap(items) != maxStaged {
		return // grown past maxStaged (never, deliver flushes first): let it go
	}
	clear(items)
	*b = items[:0]
	s.p.Put(b)
}

// inBudget is the pool-wide bound on incoming bytes held, counted as
// the queues count them (Config.Budgets.TotalIncomingQueueSize).
type inBudget struct {
	sem   *semaphore.Weighted
	total int64
	held  atomic.Int64 // for Stats
	// ended lists, oldest first, the queues of ended connections whose
	// unread messages hold part of the budget: what a connection left
	// unread when it ended is charged here in full, so that no number of
	// ended connections holds memory beyond the budget, and it is
	// dropped, oldest first, when a live connection waits for the budget
	// (reclaim). unreadDropped counts the messages dropped so.
	endedMu       sync.Mutex
	ended         list.List // of unreadHolder
	unreadDropped atomic.Uint64
}

// endedOverhead is what an ended connection with unread messages is
// charged in the pool's incoming budget beside its messages: the state it
// keeps alive until they are read or dropped (the connection, its queues,
// socket and scheduler wrappers, about 4 KB), so that the number of such
// connections is bounded by the budget too, not only their bytes.
const endedOverhead = 4 << 10

// unreadHolder is an ended connection's queue in inBudget.ended.
type unreadHolder interface {
	// dropUnread drops the queue's messages, gives their budget back and
	// returns how many it dropped.
	dropUnread() int
}

// freeAllowance is what each connection may hold outside the pool's
// budget: the first bytes queued on a connection never wait for that
// budget. A slow reader of other connections can fill the budget, and
// must not starve this one of small messages; and a connection whose
// application keeps up never touches the pool-wide semaphore. Each
// connection may thus hold this much beyond the pool's bound.
const freeAllowance = 64 << 10

func newInBudget(total int) *inBudget {
	return &inBudget{sem: semaphore.NewWeighted(int64(total)), total: int64(total)}
}

// tryAcquire takes n bytes if they are free now. Lock order: a queue's
// lock, then the semaphore's.
func (b *inBudget) tryAcquire(n int64) bool {
	if n <= 0 {
		return true
	}
	if !b.sem.TryAcquire(n) {
		return false
	}
	b.held.Add(n)
	return true
}

// acquire takes n bytes, first dropping the unread messages of ended
// connections, oldest first, while they hold budget and n is not free,
// then waiting for it. A queue's lock must not be held.
func (b *inBudget) acquire(ctx context.Context, n int64) error {
	for !b.tryAcquire(n) {
		if !b.reclaim() {
			if err := b.sem.Acquire(ctx, n); err != nil {
				return err
			}
			b.held.Add(n)
			return nil
		}
	}
	return nil
}

// wait is acquire without reclaiming, for the outgoing budget (which
// shares this type and has no ended connections): it waits for n bytes.
func (b *inBudget) wait(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	b.held.Add(n)
	return nil
}

// reclaim drops the unread messages of the connection that ended first
// among those that left some, and reports whether there was one.
func (b *inBudget) reclaim() bool {
	b.endedMu.Lock()
	e := b.ended.Front()
	if e == nil {
		b.endedMu.Unlock()
		return false
	}
	h := b.ended.Remove(e).(unreadHolder)
	b.endedMu.Unlock()
	if n := h.dropUnread(); n > 0 {
		b.unreadDropped.Add(uint64(n))
	}
	return true
}

func (b *inBudget) release(n int64) {
	if n > 0 {
		b.held.Add(-n)
		b.sem.Release(n)
	}
}

func newAppQueue[Msg any](size, maxBytes int, budget *inBudget, blocks *blockPool[appItem[Msg]]) *appQueue[Msg] {
	return &appQueue[Msg]{
		budget:   budget,
		maxBytes: maxBytes,
		appCap:   size,
		// Past the first size messages each costs at least
		// queuedOverhead of maxBytes: the fifo's bound follows (its
		// blocks are taken only as messages arrive).
		items: newFIFO(size+maxBytes/queuedOverhead+1, blocks),
	}
}

// waitChans returns the channel *sig (readSig or spaceSig) and closed
// for a waiter, making them if need be. q.mu must be held and the queue
// open.
func (q *appQueue[Msg]) waitChans(sig *chan struct{}) (chan struct{}, chan struct{}) {
	if *sig == nil {
		*sig = make(chan struct{}, 1)
	}
	if q.closed == nil {
		q.closed = make(chan struct{})
	}
	return *sig, q.closed
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// reserve makes room for a message charged size bytes, waiting while the
// queue is full in messages or bytes (a message larger than the bound
// fits an empty queue) and then for the pool's budget for what exceeds
// the connection's free allowance. Only the reader calls it, and it
// pushes or releases the reservation before the next. It fails with the
// close error, or with ctx's cause.
func (q *appQueue[Msg]) reserve(ctx context.Context, size int) error {
	q.mu.Lock()
	err := q.reserveLocked(ctx, size)
	q.mu.Unlock()
	return err
}

// reserveLocked is reserve with q.mu held; it may unlock it while it
// waits, and holds it again when it returns.
func (q *appQueue[Msg]) reserveLocked(ctx context.Context, size int) error {
	for {
		if q.err != nil {
			return q.err
		}
		if q.tryReserveLocked(size) {
			return nil
		}
		if q.fitsLocked(size) {
			// Room, but not the pool's budget: wait for it, keeping the
			// room found (only this reader takes it).
			free := min(size, freeAllowance-q.free)
			pooled := min(int64(size-free), q.budget.total)
			q.mu.Unlock()
			err := q.budget.acquire(ctx, pooled)
			q.mu.Lock()
			if err != nil {
				return context.Cause(ctx)
			}
			if q.err != nil {
				q.budget.release(pooled)
				return q.err
			}
			q.bytes += size
			q.free += free
			q.reserved = appItem[Msg]{size: size, pooled: pooled}
			return nil
		}
		q.spaceWaiters++
		q.spaceNeed = size
		space, closed := q.waitChans(&q.spaceSig)
		q.mu.Unlock()
		var err error
		select {
		case <-space:
		case <-closed:
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
		q.mu.Lock()
		q.spaceWaiters--
		if err != nil {
			return err
		}
	}
}

// queuedOverhead is what each message queued past the first stage
// costs against the byte bound besides its own bytes: octez's socket
// reader pipe counts a message as its size plus 11 words and the pipe's
// push overhead (p2p_socket.ml compute_size), 120 bytes on 64-bit hosts.
const queuedOverhead = 120

// fitsLocked reports whether a message charged size bytes fits now. The
// queue has octez's two stages (p2p_socket.ml's reader pipe, bounded in
// bytes, then p2p_conn.ml's application pipe, bounded in messages): the
// first appCap messages are the application's stage, and those behind
// them wait in the byte-bounded stage, each counted with queuedOverhead.
// Unlike octez, the byte bound covers the first stage's bytes too, so a
// connection never holds more than maxBytes (or one message larger than
// that, taken into an empty queue). q.mu must be held.
func (q *appQueue[Msg]) fitsLocked(size int) bool {
	return q.fitsAfter(q.bytes, q.items.len(), size)
}

// fitsAfter is fitsLocked as it would be with bytes held and n messages
// queued.
func (q *appQueue[Msg]) fitsAfter(bytes, n, size int) bool {
	if n == q.items.capacity() {
		return false
	}
	return bytes == 0 || bytes+queuedOverhead*max(0, n+1-q.appCap)+size <= q.maxBytes
}

// loadLocked is what n queued messages weigh against the byte bound:
// the bytes held plus queuedOverhead for each past the first stage.
// q.mu must be held.
func (q *appQueue[Msg]) loadLocked(n int) int {
	return q.bytes + queuedOverhead*max(0, n-q.appCap)
}

// tryReserveBatchLocked reserves room for as many of items as fit, in
// order, taking their part of the pool's budget with one acquisition
// rather than one per message (the semaphore was 6% of the CPU of
// 100-byte messages once a deep queue had used the connection's
// allowance), and sets each one's size and pooled. It returns how many;
// 0 if the budget is short for them together, when the caller reserves
// one at a time. q.mu must be held, the queue open, and no reservation
// pending.
func (q *appQueue[Msg]) tryReserveBatchLocked(items []appItem[Msg]) int {
	bytes, free, n := q.bytes, q.free, 0
	var pooled int64
	for n < len(items) && q.fitsAfter(bytes, q.items.len()+n, items[n].size) {
		size := items[n].size
		f := min(size, freeAllowance-free)
		p := min(int64(size-f), q.budget.total)
		items[n].pooled = p
		bytes, free, pooled = bytes+size, free+f, pooled+p
		n++
	}
	if n == 0 || !q.budget.tryAcquire(pooled) {
		return 0
	}
	q.bytes, q.free = bytes, free
	return n
}

// tryReserveLocked reserves room for a message charged size bytes if
// there is room and budget now. q.mu must be held and the queue open.
func (q *appQueue[Msg]) tryReserveLocked(size int) bool {
	if !q.fitsLocked(size) {
		return false
	}
	free := min(size, freeAllowance-q.free)
	pooled := min(int64(size-free), q.budget.total)
	if !q.budget.tryAcquire(pooled) {
		return false
	}
	q.bytes += size
	q.free += free
	q.reserved = appItem[Msg]{size: size, pooled: pooled}
	return true
}

// release gives back the reservation of a message that is not queued
// (a P2P message, handled in place); without one it does nothing.
func (q *appQueue[Msg]) release() {
	q.mu.Lock()
	r := q.reserved
	q.reserved = appItem[Msg]{}
	if q.err == nil {
		q.bytes -= r.size
		q.free -= r.size - int(r.pooled)
	}
	waiters := q.spaceWaiters > 0
	q.mu.Unlock()
	q.budget.release(r.pooled)
	if waiters {
		signal(q.spaceSig)
	}
}

// push queues m, charged size bytes, under the reservation made for it,
// or, if none was made (the message had arrived whole), reserving now in
// the same critical section, waiting as reserve does. It fails with the
// close error, or with ctx's cause.
func (q *appQueue[Msg]) push(ctx context.Context, m Msg, size int) error {
	one := [1]appItem[Msg]{{m: m, size: size}}
	return q.pushBatch(ctx, one[:])
}

// pushBatch queues items (m and size set) in order: the first under the
// reservation made for it, if any, the others reserving as they go, as
// many as there is room for in one critical section; when room runs out
// it tells the readers what it queued, then waits for room as reserve
// does. It fails with the close error, or with ctx's cause, having queued
// the items before the failure. It does not keep items.
func (q *appQueue[Msg]) pushBatch(ctx context.Context, items []appItem[Msg]) error {
	for len(items) > 0 {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			return q.err
		}
		wasEmpty := q.items.len() == 0
		n := 0
		if q.reserved.size == 0 {
			n = q.tryReserveBatchLocked(items)
			for i := range n {
				q.items.push(items[i]) // room was checked by the reservation
			}
		}
		for n < len(items) && (q.reserved.size != 0 || q.tryReserveLocked(items[n].size)) {
			it := q.reserved
			it.m = items[n].m
			q.reserved = appItem[Msg]{}
			q.items.push(it) // room was checked by the reservation
			n++
		}
		waiters := n > 0 && q.readWaiters > 0
		q.mu.Unlock()
		if waiters {
			signal(q.readSig)
		}
		if n > 0 && wasEmpty && q.onReadable != nil {
			// Only when the queue stops being empty: Pool.Read lists the
			// connection again itself while messages remain.
			q.onReadable()
		}
		items = items[n:]
		if len(items) > 0 {
			if err := q.reserve(ctx, items[0].size); err != nil {
				return err
			}
		}
	}
	return nil
}

// tryPop removes and returns the oldest message, if any; more says
// whether others remain.
func (q *appQueue[Msg]) tryPop() (m Msg, ok, more bool) {
	q.mu.Lock()
	it, ok := q.items.pop()
	if !ok {
		q.mu.Unlock()
		return m, false, false
	}
	if q.err == nil {
		q.bytes -= it.size
		q.free -= it.size - int(it.pooled)
	}
	more = q.items.len() > 0
	// The pool's budget goes back in steps (releaseStep), not message by
	// message: the semaphore is shared with the reader and every other
	// connection.
	q.unreleased += it.pooled
	var pooled int64
	if q.unreleased >= releaseStep || !more {
		pooled, q.unreleased = q.unreleased, 0
	}
	spaceWaiters, readWaiters := q.spaceWaiters > 0 && q.roomToWakeLocked(), more && q.readWaiters > 0
	if !more && q.err != nil {
		pooled += q.unlistEnded()
	}
	q.mu.Unlock()
	q.budget.release(pooled)
	if spaceWaiters {
		signal(q.spaceSig)
	}
	if readWaiters {
		signal(q.readSig) // pass the token on to another reader
	}
	return it.m, true, more
}

// tryPopAll appends the queued messages of the first stage (at most
// appCap) to dst in one critical section, with one release of the pool's
// budget and at most one wake-up of the waiting reader, and reports
// whether it took any.
func (q *appQueue[Msg]) tryPopAll(dst []Msg) ([]Msg, bool) {
	q.mu.Lock()
	n := min(q.items.len(), q.appCap)
	if n == 0 {
		q.mu.Unlock()
		return dst, false
	}
	var pooled int64
	for range n {
		it, _ := q.items.pop()
		if q.err == nil {
			q.bytes -= it.size
			q.free -= it.size - int(it.pooled)
		}
		pooled += it.pooled
		dst = append(dst, it.m)
	}
	pooled, q.unreleased = pooled+q.unreleased, 0
	spaceWaiters := q.spaceWaiters > 0 && q.roomToWakeLocked()
	if q.items.len() == 0 && q.err != nil {
		pooled += q.unlistEnded()
	}
	q.mu.Unlock()
	q.budget.release(pooled)
	if spaceWaiters {
		signal(q.spaceSig)
	}
	return dst, true
}

// popAll is tryPopAll waiting for at least one message; once the queue is
// closed and drained it fails with the close error.
func (q *appQueue[Msg]) popAll(ctx context.Context, dst []Msg) ([]Msg, error) {
	for {
		var ok bool
		if dst, ok = q.tryPopAll(dst); ok {
			return dst, nil
		}
		if err := q.waitMessage(ctx); err != nil {
			return dst, err
		}
	}
}

// roomToWakeLocked reports whether the waiting reader should be woken:
// its reservation fits, and the queue has drained to half its first
// stage or half its byte bound, so that each wake-up of the reader
// (microseconds when its thread is parked) moves several messages, not
// one. q.mu must be held.
func (q *appQueue[Msg]) roomToWakeLocked() bool {
	n := q.items.len()
	return q.fitsLocked(q.spaceNeed) && (n <= q.appCap/2 || q.loadLocked(n) <= q.maxBytes/2)
}

// pop removes and returns the oldest message, waiting for one. Once the
// queue is closed and drained it fails with the close error.
func (q *appQueue[Msg]) pop(ctx context.Context) (Msg, error) {
	var zero Msg
	for {
		if m, ok, _ := q.tryPop(); ok {
			return m, nil
		}
		if err := q.waitMessage(ctx); err != nil {
			return zero, err
		}
	}
}

// waitMessage waits until a message may be queued: it returns nil when
// one is (or may be: a pop must check), the close error once the queue is
// closed and drained, or ctx's error.
func (q *appQueue[Msg]) waitMessage(ctx context.Context) error {
	q.mu.Lock()
	switch {
	case q.items.len() > 0:
		q.mu.Unlock()
		return nil
	case q.err != nil:
		q.mu.Unlock()
		return q.err
	}
	q.readWaiters++
	readable, closed := q.waitChans(&q.readSig)
	q.mu.Unlock()
	var err error
	select {
	case <-readable:
	case <-closed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.mu.Lock()
	q.readWaiters--
	q.mu.Unlock()
	return err
}

// wait returns when a message can be popped, or with the close error once
// the queue is closed and drained (octez is_readable).
func (q *appQueue[Msg]) wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		n, sig := q.items.len(), q.readSig
		q.mu.Unlock()
		if n > 0 {
			signal(sig) // leave the token for a Read that waits, if any (nil: none does)
			return nil
		}
		if err := q.waitMessage(ctx); err != nil {
			return err
		}
	}
}

// len returns the messages queued and the bytes held (queued and
// reserved).
func (q *appQueue[Msg]) len() (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.len(), q.bytes
}

// close fails pending and future reservations and pushes with err;
// messages already queued can still be popped. What they hold of the
// connection's own allowance is charged to the pool's budget now, so
// that all an ended connection left unread counts in the budget (up to
// freeAllowance a connection is otherwise charged nowhere, and ended
// connections are not bounded in number); if the budget has no room
// for it, the unread messages are dropped at once. The queue is then
// listed as ended: its messages are dropped when a live connection waits
// for the budget, so that what an ended connection left unread never
// keeps a live one waiting.
func (q *appQueue[Msg]) close(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return
	}
	q.err = err
	if q.closed != nil {
		close(q.closed)
	}
	release := q.reserved.pooled + q.unreleased
	q.reserved, q.unreleased = appItem[Msg]{}, 0
	n := q.items.len()
	var free int64 // what the queued messages hold outside the budget
	for i := range n {
		it := q.items.at(i)
		free += int64(it.size) - it.pooled
	}
	if n > 0 && q.budget.tryAcquire(free+endedOverhead) {
		for i := range n {
			it := q.items.at(i)
			it.pooled = int64(it.size)
		}
		q.endedCharge = endedOverhead
		q.budget.endedMu.Lock()
		q.endedElem = q.budget.ended.PushBack(unreadHolder(q))
		q.budget.endedMu.Unlock()
	} else if n > 0 {
		release += q.dropLocked()
		q.budget.unreadDropped.Add(uint64(n))
	}
	q.bytes, q.free = 0, 0
	q.budget.release(release)
}

// dropLocked empties the queue and returns the pool's budget its
// messages held. q.mu must be held.
func (q *appQueue[Msg]) dropLocked() int64 {
	var pooled int64
	for {
		it, ok := q.items.pop()
		if !ok {
			break
		}
		pooled += it.pooled
	}
	pooled, q.unreleased, q.endedCharge = pooled+q.unreleased+q.endedCharge, 0, 0
	return pooled
}

// dropUnread implements unreadHolder: inBudget.reclaim calls it, the
// queue having been taken off the ended list.
func (q *appQueue[Msg]) dropUnread() int {
	q.mu.Lock()
	n := q.items.len()
	pooled := q.dropLocked()
	q.mu.Unlock()
	q.budget.release(pooled)
	return n
}

// unlistEnded takes the closed queue, now empty, off the pool's list of
// ended queues holding unread messages, and returns the budget to give
// back for it (endedCharge). q.mu must be held (lock order: a queue's
// lock, then the list's).
func (q *appQueue[Msg]) unlistEnded() int64 {
	q.budget.endedMu.Lock()
	if q.endedElem != nil {
		q.budget.ended.Remove(q.endedElem)
		q.endedElem = nil
	}
	q.budget.endedMu.Unlock()
	charge := q.endedCharge
	q.endedCharge = 0
	return charge
}

// outItem is one encoded message waiting for the writer, or an arena of
// small messages packed back to back.
type outItem struct {
	b []byte
	// pooled: b came from the buffer pool and the writer gives it back.
	pooled bool
	// done, for WriteSync, receives the write's outcome.
	done chan error
	// msgs is the number of messages in b when it is an arena (0 means
	// one).
	msgs int
	// own and spent are what the item holds of its connection's floor
	// (outFloor) and of the pool's outgoing budget, set by the queue as
	// it accepts the item and given back once the writer is done with it
	// (releaseItems).
	own, spent int32
	// sh, for a large broadcast, is the one shared copy of b, of which
	// the item holds a reference: the budget counts it there, once.
	sh *sharedOut
}

// Small messages, up to smallMessage, are copied into arenas while
// queued: a burst of them costs one buffer and one item per arena, not
// one per message. The first arena of a run of small messages holds
// arenaFirst bytes: on a connection whose writer keeps up, the usual
// case, the writer takes it at once, so a lone message holds no more,
// and small messages between large ones hold no more each. An arena
// opened because the one before it is full, where a run builds up behind
// the writer, holds arenaSize and is filled up to arenaFill, one full
// chunk's plaintext: the writer seals it where it lies as a chunk of its
// own, with no copy into its stage (internal/socket's ownChunkMin), and
// the reader queues a whole chunk of messages per critical section.
// (With a Wire.BinaryChunksSize below the maximum, the writer cuts such
// an arena into several chunks, the remainder first, as it cuts a large
// message.)
// With 16 KiB arenas, gathered into full chunks by that copy, 1 KiB
// messages went 7% slower (BENCHMARKS.md, issue 20's eleventh round).
const (
	arenaFirst   = 4 << 10
	arenaSize    = 64 << 10
	arenaFill    = socket.MaxChunkPayload
	smallMessage = 2 << 10
)

func (it *outItem) release(err error) {
	if it.pooled {
		pool.Put(it.b)
	}
	if it.sh != nil {
		it.sh.unref()
	}
	if it.done != nil {
		it.done <- err
	}
	*it = outItem{}
}

// outQueue is a connection's bounded outgoing queue, counted in the bytes
// it holds (octez outgoing_message_queue_size): a message's own buffer,
// or an arena's whole capacity. A message is accepted when it
// fits, or when the queue is empty, so one oversized message cannot wedge
// the connection. What it holds beyond its floor (outFloor, counting the
// items its writer has taken and not yet written) is charged to the
// pool's outgoing budget as well, once per item or arena, not per
// message; a shared broadcast is charged there once for all its queues.
// Safe for concurrent use.
type outQueue struct {
	// Immutable after newOutQueue.
	budget *outBudget
	// life ends when the connection does: a Write waiting for the budget
	// gives up then. Nil for none.
	life context.Context
	// own is what the queue and its writer hold of the floor: pushes add
	// to it under mu, the writer subtracts what it is done with (an
	// atomic, so that the writer takes no lock for it).
	own atomic.Int64

	mu sync.Mutex
	// Guarded by mu. The queued items are items[head:]: the writer takes
	// from the head without moving the rest.
	items []outItem
	head  int
	bytes int
	max   int
	err   error // set once by close
	// space is closed when the writer takes items and spaceWaiters > 0
	// (blocked Writes); the first waiter makes it, so that a queue whose
	// Writes never wait for room has none.
	space        chan struct{}
	spaceWaiters int
	// running: a writer goroutine was started and has not yet found the
	// queue empty. The push that finds no writer starts one (starter, with
	// mu held, so that the start happens before any close, after which the
	// connection's reader waits for its writers); the writer exits when
	// it finds the queue empty. An idle connection thus has no writer
	// goroutine and no channel operation is made per message. running is
	// true from newOutQueue until unhold: no writer starts before the
	// connection's reader, which owns it.
	running bool
	starter writerStarter
	// spareBatch and spareBufs are the slices of the last writer, kept
	// for the next (exit, spares).
	spareBatch []outItem
	spareBufs  [][]byte
	// tailArena: the last queued item is an arena still open for small
	// messages.
	tailArena bool
	// batches counts the writer's takes (tests wait for the next one);
	// starts counts the writers started (benchmarks report it).
	batches, starts uint64
}

// writerStarter starts a queue's writer goroutine: the connection (conn),
// an interface rather than a method value, which would be an allocation
// per connection.
type writerStarter interface{ startWriter() }

// newOutQueue returns an empty queue bounded at max bytes whose writers
// starter starts (nil: none, for tests that take by hand). It starts
// held: see unhold.
func newOutQueue(max int, budget *outBudget, life context.Context, starter writerStarter) *outQueue {
	return &outQueue{max: max, budget: budget, life: life, running: true, starter: starter}
}

// unhold lets pushes start writers, and starts one now if there is
// something to send, or if the queue was closed meanwhile (a draining
// writer then finishes the close).
func (q *outQueue) unhold() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running = false
	if len(q.items) > q.head || q.err != nil {
		q.startLocked()
	}
}

// startLocked starts a writer; q.mu must be held and running false.
func (q *outQueue) startLocked() {
	q.running = true
	q.starts++
	if q.starter != nil {
		q.starter.startWriter()
	}
}

// push queues it. With block it waits for room in the queue and in the
// pool's budget (or ctx, or close); without, it returns ErrQueueFull, or
// ErrOutgoingBudgetFull, when there is none. On failure the item
// is not released: the caller still owns it.
func (q *outQueue) push(ctx context.Context, it outItem, block bool) error {
	return q.pushItem(ctx, it, false, block)
}

// pushCopy queues a copy of the small message m in the queue's last
// arena, or a new one; m is the caller's again when it returns. With
// block it waits for room (or ctx, or close); without, it returns
// ErrQueueFull, or ErrOutgoingBudgetFull, when there is none.
func (q *outQueue) pushCopy(ctx context.Context, m []byte, block bool) error {
	return q.pushItem(ctx, outItem{b: m}, true, block)
}

func (q *outQueue) pushItem(ctx context.Context, it outItem, copied, block bool) error {
	if !copied && it.done == nil && !it.pooled && it.sh == nil && len(it.b) <= smallMessage {
		// A small shared message (the pool's own): copied too, so that
		// it does not break the arenas of the messages around it.
		copied = true
	}
	// credit is budget taken while waiting for it and not yet used:
	// given back on failure, or what a changed need leaves over.
	var credit int64
	for {
		q.mu.Lock()
		if q.err != nil {
			q.mu.Unlock()
			q.budget.release(credit)
			return q.err
		}
		need := len(it.b)
		if copied {
			need = q.copyChargeLocked(len(it.b))
		}
		if len(q.items) == q.head || q.bytes+need <= q.max {
			// Room in the queue. What exceeds the floor is charged to
			// the pool's budget; nothing for a message that fits the
			// open arena, whose memory is charged already, or for a
			// shared broadcast, charged once for all its queues.
			var own, spend int64
			if need > 0 && it.sh == nil {
				own = min(int64(need), max(outFloor-q.own.Load(), 0))
				spend = min(int64(need)-own, q.budget.sem.total)
			}
			if spend > credit {
				if !q.budget.sem.tryAcquire(spend - credit) {
					q.mu.Unlock()
					if !block {
						q.budget.release(credit)
						return ErrOutgoingBudgetFull
					}
					if err := q.budget.wait(ctx, q.life, spend-credit); err != nil {
						q.budget.release(credit)
						if errors.Is(err, errLifeEnded) {
							continue // the queue is closed: its error
						}
						return err
					}
					credit = spend
					continue
				}
				credit = spend
			}
			if own != 0 {
				q.own.Add(own) // an atomic only per new arena or item
			}
			if copied {
				q.appendCopyLocked(it.b, int32(own), int32(spend))
			} else {
				it.own, it.spent = int32(own), int32(spend)
				q.appendLocked(it)
				q.tailArena = false
			}
			if !q.running {
				q.startLocked()
			}
			q.mu.Unlock()
			if credit > spend {
				q.budget.release(credit - spend)
			}
			return nil
		}
		// No room in the queue: what budget was taken waits for no one.
		q.budget.release(credit)
		credit = 0
		if !block {
			q.mu.Unlock()
			return ErrQueueFull
		}
		if q.space == nil {
			q.space = make(chan struct{}) // made for the first waiter only
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
	q.bytes += it.charge()
}

// charge is what it counts against the queue's bound: the memory it
// holds, an arena's whole capacity however little of it is used, so
// that no pattern of writes (a small message between each two large
// ones, say) makes the queue hold more memory than its bound.
func (it *outItem) charge() int {
	if it.msgs > 0 {
		return cap(it.b)
	}
	return len(it.b)
}

// copyChargeLocked is what copying an n-byte message adds to the
// queue's charge: nothing if it fits the open arena, a new arena
// otherwise. q.mu must be held.
func (q *outQueue) copyChargeLocked(n int) int {
	if q.fitsArenaLocked(n) {
		return 0
	}
	return q.arenaCapLocked(n)
}

// fitsArenaLocked reports whether an n-byte message fits the open arena,
// if there is one. q.mu must be held.
func (q *outQueue) fitsArenaLocked(n int) bool {
	if !q.tailArena {
		return false
	}
	last := &q.items[len(q.items)-1]
	return len(last.b)+n <= min(cap(last.b), arenaFill)
}

// arenaCapLocked is the capacity of a new arena for an n-byte message (n
// at most smallMessage), which does not fit the open arena if there is
// one: arenaSize after a full arena, arenaFirst to start a run; a power
// of two, which the buffer pool hands out exactly. Under a bound smaller
// than that it is the largest power of two within the bound (but room
// for the message): rounded up past the bound, the arena alone would
// fill the queue, which would then refuse the messages that fit in it.
// q.mu must be held.
func (q *outQueue) arenaCapLocked(n int) int {
	size := arenaFirst
	if q.tailArena {
		size = arenaSize
	}
	c := 1 << (bits.Len(uint(min(size, max(n, q.max)))) - 1)
	if c < n {
		c <<= 1
	}
	return c
}

// appendCopyLocked copies m into the open arena if it fits, or into a
// new one, which holds own of the floor and spent of the budget. q.mu
// must be held.
func (q *outQueue) appendCopyLocked(m []byte, own, spent int32) {
	if q.fitsArenaLocked(len(m)) {
		last := &q.items[len(q.items)-1]
		last.b = append(last.b, m...)
		last.msgs++
		return // its memory is charged already
	}
	arena := append(pool.Get(q.arenaCapLocked(len(m)))[:0], m...)
	q.appendLocked(outItem{b: arena, pooled: true, msgs: 1, own: own, spent: spent})
	q.tailArena = true
}

// maxIdleItems is the largest item slice an empty queue keeps, so that a
// burst of small messages does not pin its slice for the connection's life.
const maxIdleItems = 1024

// wakeWritersLocked wakes the Writes waiting for room, if any: without
// waiters no channel is replaced, so taking a batch allocates nothing.
// q.mu must be held.
func (q *outQueue) wakeWritersLocked() {
	// space is nil once closed, until a new waiter makes another: the
	// waiters it woke may not have left yet (spaceWaiters).
	if q.spaceWaiters > 0 && q.space != nil {
		close(q.space)
		q.space = nil
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
	q.tailArena = false
	if !q.running {
		q.startLocked()
	}
	q.mu.Unlock()
	return nil
}

// takeResult says what take found.
type takeResult int

const (
	// tookItems: items were moved into dst.
	tookItems takeResult = iota
	// takeEmpty: the queue is empty; the writer lets go of its buffers
	// and calls exit.
	takeEmpty
	// takeClosed: the queue is closed and empty; the writer must exit.
	takeClosed
)

// take moves up to maxBytes of queued items (at least one, even if it
// alone is larger) into dst; it never waits. Items queued before close
// are still handed out (a draining writer sends them).
func (q *outQueue) take(dst []outItem, maxBytes int) ([]outItem, takeResult) {
	q.mu.Lock()
	defer q.mu.Unlock()
	queued := q.items[q.head:]
	if len(queued) == 0 {
		if q.err != nil {
			return dst, takeClosed
		}
		return dst, takeEmpty
	}
	if q.head == 0 && q.bytes <= maxBytes && len(dst) == 0 {
		// All of it: hand the slice over and keep the writer's drained
		// one, moving no item.
		dst, q.items = q.items, dst[:0]
		q.bytes = 0
		q.tailArena = false
	} else {
		n, size, charged := 0, 0, 0
		for n < len(queued) && (n == 0 || size+len(queued[n].b) <= maxBytes) {
			size += len(queued[n].b)
			charged += queued[n].charge()
			n++
		}
		dst = append(dst, queued[:n]...)
		clear(queued[:n])
		q.head += n
		q.bytes -= charged
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
			q.tailArena = false
		}
	}
	if len(q.items) == 0 && cap(q.items) > maxIdleItems {
		q.items = nil
	}
	q.batches++
	q.wakeWritersLocked()
	return dst, tookItems
}

// exit is the writer's last call, after take found the queue empty and
// the writer let go of its buffers: it reports false if something was
// queued meanwhile, or the queue closed (a drain counts on this writer to
// end the connection): the writer goes on. Else it stops the writer,
// keeping its slices for the next one if they are small (at most
// maxIdleBatch).
func (q *outQueue) exit(batch []outItem, bufs [][]byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > q.head || q.err != nil {
		return false
	}
	q.running = false
	if cap(batch) <= maxIdleBatch {
		q.spareBatch, q.spareBufs = batch[:0], bufs[:0]
	}
	return true
}

// spares hands a starting writer the slices its predecessor kept.
func (q *outQueue) spares() ([]outItem, [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, f := q.spareBatch, q.spareBufs
	q.spareBatch, q.spareBufs = nil, nil
	return b, f
}

func (q *outQueue) len() (items, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head, q.bytes
}

// close refuses further pushes with err. Items already queued stay for a
// draining writer; discard releases them. With drain, the first close
// starts a writer if none runs and something is queued, and reports
// whether a writer will finish the close (send what is queued, then see
// the queue closed): false means nothing is left to send.
func (q *outQueue) close(err error, drain bool) (writing bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		// Closed before: whoever closed it decided, and a later start
		// could come after the reader began waiting for its writers.
		return q.running
	}
	q.err = err
	q.wakeWritersLocked()
	if drain && !q.running && len(q.items) > q.head {
		q.startLocked()
	}
	return q.running
}

// discard releases every queued item with err (WriteSync callers learn
// their message was not sent).
func (q *outQueue) discard(err error) {
	q.mu.Lock()
	items := q.items[q.head:]
	q.items, q.head, q.bytes, q.tailArena = nil, 0, 0, false
	q.mu.Unlock()
	q.releaseItems(items, err)
}

// releaseItems releases items, done with (written, or discarded with
// err), and gives back what they held of the floor and of the budget:
// one atomic and one semaphore operation for the lot.
func (q *outQueue) releaseItems(items []outItem, err error) {
	var own, spent int64
	for i := range items {
		own += int64(items[i].own)
		spent += int64(items[i].spent)
		items[i].release(err)
	}
	if own != 0 {
		q.own.Add(-own)
	}
	q.budget.release(spent)
}
