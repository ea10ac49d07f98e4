package p2ppool

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIncomingBytesAreBudgeted: 100 peers send maximum-size messages to
// an application that never reads. What the pool holds is bounded by
// TotalIncomingQueueSize plus a small constant per connection, however
// much the peers send, and it is all given back when they leave.
func TestIncomingBytesAreBudgeted(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 100 connections")
	}
	const (
		peers   = 100
		maxBody = 1 << 20
		budget  = 16 << 20
		// perConn bounds what one connection costs beyond the budget,
		// both ends (the scripted senders run in this process): buffers
		// of the reader and of the sender's socket, goroutine stacks, the
		// tables' records, the small message a connection may always
		// take outside the budget.
		perConn = 512 << 10
	)
	n := newNetwork("tcp")
	nd := newNode(t, n, func(c *Config) {
		c.Limits.MaxConnections, c.Limits.ExpectedConnections = peers+10, peers
		c.Admission.MaxIncomingConnections = peers
		c.Budgets.MaxMessageSize = maxBody
		c.Budgets.TotalIncomingQueueSize = budget
		c.Limits.IncomingMessageQueueSize = 4 << 20 // per connection: 4 messages
	})
	before := heapInUse()

	// One message of the largest size, shared read-only by the senders,
	// each of which seals it piece by piece (WriteStream), so that a
	// sender holds one piece, not the message.
	msg := appMsg(0x1000, dataenc.AppendString(nil, string(make([]byte, maxBody-4))))
	var wg sync.WaitGroup
	var peersUp []*rawPeer
	for range peers {
		rp, _ := dialRaw(t, n, nd)
		peersUp = append(peersUp, rp)
		wg.Go(func() {
			for {
				for off := 0; off < len(msg); off += 64 << 10 {
					if err := rp.sc.WriteStream(msg[off:min(len(msg), off+64<<10)]); err != nil {
						return
					}
				}
			}
		})
	}
	// The readers fill the budget and stop.
	waitFor(t, "the budget to fill", func() bool {
		s := nd.Stats()
		return s.Connections.Established == peers && s.Queues.IncomingBudgetHeld > budget-maxBody
	})
	s := nd.Stats()
	during := heapInUse()
	growth := during - before
	t.Logf("holding %d messages, %d wire bytes (budget %d held); heap grew by %.1f MiB for %d connections: %.0f KiB per connection beyond the budget",
		s.Queues.AppQueued, s.Queues.AppQueuedBytes, s.Queues.IncomingBudgetHeld, float64(growth)/(1<<20), peers, float64(growth-budget)/peers/1024)
	assert.LessOrEqual(t, s.Queues.IncomingBudgetHeld, int64(budget))
	assert.Less(t, growth, int64(budget+peers*perConn), "heap within the budget plus a constant per connection")

	// The peers leave. TCP delivers their goodbye behind the bytes the
	// pool has not read, so it learns they left once its application
	// reads again: it drains each connection to its end.
	for _, rp := range peersUp {
		rp.nc.Close()
	}
	wg.Wait()
	for _, c := range nd.Conns().All() {
		_, de := readAll(t, c)
		assert.Equal(t, ReasonRemoteClosed, de.Reason)
	}
	waitFor(t, "the peers to be gone", func() bool { return nd.Conns().Len() == 0 })
	assert.Zero(t, nd.Stats().Queues.IncomingBudgetHeld, "the budget is given back")
	after := heapInUse()
	t.Logf("heap after they left: %+.1f MiB from the start", float64(after-before)/(1<<20))
	assert.Less(t, after-before, int64(8<<20), "the memory is given back")
}

// heapInUse is the live heap after two collections (the buffer pool
// keeps what it holds for one cycle).
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestAppQueueBytes pins the queue's bounds: per connection in bytes (a
// message larger than the bound still fits an empty queue), across
// connections through the pool's budget for what exceeds each
// connection's free allowance, and a message that arrived whole reserves
// when it is pushed, waiting as a reservation does.
func TestAppQueueBytes(t *testing.T) {
	ctx := context.Background()
	waitFor := func(t *testing.T, what string, f func() error) func() error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		notYet(t, done, what)
		return func() error { return recvErr(t, done, what) }
	}
	blocked := func(t *testing.T, q *appQueue[int], size int) func() error {
		t.Helper()
		return waitFor(t, "reserve", func() error { return q.reserve(ctx, size) })
	}
	t.Run("per connection", func(t *testing.T) {
		b := newInBudget(1 << 30)
		q := newAppQueue[int](10, 100, b, nil)
		require.NoError(t, q.reserve(ctx, 150), "larger than the bound, into an empty queue")
		require.NoError(t, q.push(ctx, 1, 150))
		wait := blocked(t, q, 1)
		_, err := q.pop(ctx)
		require.NoError(t, err)
		require.NoError(t, wait())
		q.release()
		require.NoError(t, q.push(ctx, 2, 60), "arrived whole: reserved as it is pushed")
		wait = waitFor(t, "push", func() error { return q.push(ctx, 3, 41) }) // 60 + 41 > 100
		m, err := q.pop(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, m)
		require.NoError(t, wait(), "the push waited for room")
		wait = blocked(t, q, 60) // 41 + 60 > 100
		q.close(ErrConnectionClosed)
		require.ErrorIs(t, wait(), ErrConnectionClosed)
		m, err = q.pop(ctx)
		require.NoError(t, err, "what was queued is still read after close")
		assert.Equal(t, 3, m)
	})
	t.Run("across connections", func(t *testing.T) {
		b := newInBudget(200 << 10)
		q1 := newAppQueue[int](10, 1<<20, b, nil)
		q2 := newAppQueue[int](10, 1<<20, b, nil)
		require.NoError(t, q1.reserve(ctx, 150<<10))
		require.NoError(t, q1.push(ctx, 1, 150<<10))
		assert.Equal(t, int64(150-64)<<10, b.held.Load(), "the first 64 KiB are the connection's own")
		wait := blocked(t, q2, 180<<10) // 86 + 116 KiB > 200 KiB
		q3 := newAppQueue[int](100, 1<<20, b, nil)
		for i := range 64 {
			require.NoError(t, q3.push(ctx, i, 1<<10), "a connection's first 64 KiB never wait for the pool")
		}
		wait3 := blocked(t, q3, 1) // beyond its allowance, behind q2
		_, err := q1.pop(ctx)
		require.NoError(t, err)
		require.NoError(t, wait())
		require.NoError(t, wait3())
		require.NoError(t, q2.push(ctx, 2, 180<<10))
		assert.Equal(t, int64(116<<10+1), b.held.Load(), "the parts beyond the allowances")
		q2.close(ErrConnectionClosed)
		assert.Equal(t, int64(180<<10+endedOverhead+1), b.held.Load(), "what q2 left unread counts in full once it ended, with what it keeps alive (q3's reservation, 1 byte)")
		q3.close(ErrConnectionClosed)
		assert.Equal(t, int64(180<<10+endedOverhead), b.held.Load(), "q3's 64 KiB left unread did not fit: dropped, and its reservation given back")
		assert.EqualValues(t, 64, b.unreadDropped.Load())
		_, err = q3.pop(ctx)
		require.ErrorIs(t, err, ErrConnectionClosed)
		m, err := q2.pop(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, m)
		assert.Zero(t, b.held.Load(), "reading it gives it back")
	})
	t.Run("ended connections are bounded in number", func(t *testing.T) {
		// A tiny message left unread keeps a whole connection alive: each
		// ended connection is charged endedOverhead besides, so the budget
		// bounds how many are kept, not only their bytes.
		const budget = 64 << 10
		b := newInBudget(budget)
		for i := range 100 {
			q := newAppQueue[int](10, 1<<20, b, nil)
			require.NoError(t, q.push(ctx, i, 10))
			q.close(ErrConnectionClosed)
		}
		kept := b.ended.Len()
		assert.Equal(t, budget/(endedOverhead+10), kept)
		assert.EqualValues(t, 100-kept, b.unreadDropped.Load())
		assert.LessOrEqual(t, b.held.Load(), int64(budget))
	})
	t.Run("ended connections give way", func(t *testing.T) {
		b := newInBudget(100 << 10)
		ended := newAppQueue[int](100, 1<<20, b, nil)
		for i := range 90 {
			require.NoError(t, ended.push(ctx, i, 1<<10))
		}
		ended.close(ErrConnectionClosed)
		assert.Equal(t, int64(90<<10+endedOverhead), b.held.Load(), "its unread messages count in full, with what it keeps alive")
		live := newAppQueue[int](100, 1<<20, b, nil)
		for i := range 84 { // its own 64 KiB, then 20 from the budget
			require.NoError(t, live.push(ctx, i, 1<<10), "never waits for an ended connection")
		}
		assert.EqualValues(t, 90, b.unreadDropped.Load(), "the ended connection's messages were dropped")
		assert.Equal(t, int64(20<<10), b.held.Load())
		_, err := ended.pop(ctx)
		require.ErrorIs(t, err, ErrConnectionClosed, "nothing left to read")
		assert.Zero(t, b.ended.Len())
	})
}

// TestAppQueueTwoStages pins octez's two stages (fitsLocked): past the
// first appCap messages, the queue takes more as long as the byte bound
// holds them, each counted with queuedOverhead; ReadBatch takes the first
// stage alone. With a bound of 10 messages the reader used to stop
// reading after 10 however small, where octez keeps reading into its
// 8 MiB reader pipe.
func TestAppQueueTwoStages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := newAppQueue[int](2, 1000, newInBudget(1<<30), nil)
		// 10n + 120(n-2) <= 1000: nine messages of 10 bytes fit.
		for i := range 9 {
			require.NoError(t, q.push(ctx, i, 10), "message %d", i)
		}
		pushed := make(chan error, 1)
		go func() { pushed <- q.push(ctx, 9, 10) }()
		synctest.Wait()
		notYet(t, pushed, "the tenth push")
		n, bytes := q.len()
		assert.Equal(t, 9, n)
		assert.Equal(t, 90, bytes)

		got, err := q.popAll(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1}, got, "ReadBatch takes the first stage")
		synctest.Wait()
		notYet(t, pushed, "the tenth push, the queue not yet drained to half")
		for want := 2; want < 6; want++ {
			m, err := q.pop(ctx)
			require.NoError(t, err)
			require.Equal(t, want, m)
		}
		synctest.Wait()
		require.NoError(t, <-pushed, "woken once the load fell to half the bound")
		got, err = q.popAll(ctx, got[:0])
		require.NoError(t, err)
		assert.Equal(t, []int{6, 7}, got)
		got, err = q.popAll(ctx, got[:0])
		require.NoError(t, err)
		assert.Equal(t, []int{8, 9}, got)
	})
}

// TestAppQueueReleasesBurstStorage: a queue that a burst of small
// messages filled far past its first stage gives its blocks back to the
// pool's as it drains, so that a peer that floods a connection nobody
// reads leaves no memory in that queue once it is read, and the next
// burst, on any connection, reuses the blocks.
func TestAppQueueReleasesBurstStorage(t *testing.T) {
	ctx := context.Background()
	var blocks blockPool[appItem[int]]
	q := newAppQueue(10, 1<<20, newInBudget(1<<30), &blocks)
	for i := range 5000 {
		require.NoError(t, q.push(ctx, i, 6))
	}
	assert.Len(t, q.items.blocks, (5000+fifoBlock-1)/fifoBlock)
	var got []int
	for n := 0; n < 5000; n += len(got) {
		var err error
		got, err = q.popAll(ctx, got[:0])
		require.NoError(t, err)
		require.Equal(t, n, got[0], "in order")
	}
	assert.Empty(t, q.items.blocks)
	b := blocks.get()
	assert.Equal(t, [fifoBlock]appItem[int]{}, *b, "a block back in the pool holds no message")
}

// TestAppQueueBudgetInSteps: a batch past the connection's allowance
// takes its part of the pool's budget at once, and pops give it back in
// steps of releaseStep, all of it once the queue is empty or closed.
func TestAppQueueBudgetInSteps(t *testing.T) {
	ctx := context.Background()
	b := newInBudget(1 << 30)
	q := newAppQueue[int](10, 8<<20, b, nil)
	items := make([]appItem[int], 100)
	for i := range items {
		items[i] = appItem[int]{m: i, size: 1 << 10}
	}
	require.NoError(t, q.pushBatch(ctx, items))
	assert.Equal(t, int64(100-64)<<10, b.held.Load(), "past the 64 KiB allowance")
	for i := range 70 { // the allowance's 64, then 6 from the budget
		m, err := q.pop(ctx)
		require.NoError(t, err)
		require.Equal(t, i, m)
	}
	assert.Equal(t, int64(100-64)<<10, b.held.Load(), "6 KiB popped: under a step, kept")
	for i := 70; i < 90; i++ {
		_, err := q.pop(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(100-64-16)<<10, b.held.Load(), "a step given back at the 16th KiB (message 79)")
	for i := 90; i < 99; i++ {
		_, err := q.pop(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(100-64-32)<<10, b.held.Load(), "another at message 95")
	_, err := q.pop(ctx)
	require.NoError(t, err)
	assert.Zero(t, b.held.Load(), "all of it once the queue is empty")

	require.NoError(t, q.pushBatch(ctx, items[:80]))
	_, err = q.pop(ctx)
	require.NoError(t, err)
	q.close(ErrConnectionClosed)
	assert.Equal(t, int64(79<<10+endedOverhead), b.held.Load(), "an ended connection's unread messages count in full, with what it keeps alive")
	assert.Equal(t, 1, b.ended.Len())
	for range 79 {
		_, err = q.pop(ctx)
		require.NoError(t, err)
	}
	assert.Zero(t, b.held.Load(), "given back as they are read")
	assert.Zero(t, b.ended.Len(), "and off the ended list once read")
}

// TestEndedConnectionsUnreadBudgeted: 200 peers each send 60 KiB (within
// the 64 KiB a connection may hold outside the pool's budget) to an
// application that does not read, and hang up. What they left unread
// counts in the pool's budget once they have ended, however many they
// are: beyond it, the oldest is dropped (counted), and the rest stays
// readable. Before, each ended connection kept its 60 KiB outside any
// budget until the application read it: 12 MiB here for a 2 MiB budget.
func TestEndedConnectionsUnreadBudgeted(t *testing.T) {
	const (
		peers  = 200
		msgs   = 60
		body   = 1<<10 - 4 // a 1 KiB string
		budget = 2 << 20
	)
	n := newNetwork("tcp")
	nd := newNode(t, n, func(c *Config) {
		c.Limits.MaxConnections, c.Limits.ExpectedConnections = peers+10, peers
		c.Admission.MaxIncomingConnections = peers
		c.Budgets.TotalIncomingQueueSize = budget
	})
	before := heapInUse()
	m := appMsg(0x1000, dataenc.AppendString(nil, string(make([]byte, body))))
	for range peers {
		rp, _ := dialRaw(t, n, nd)
		for range msgs {
			require.NoError(t, rp.sc.WriteStream(m))
		}
		rp.nc.Close()
	}
	waitFor(t, "the peers to be gone", func() bool { return nd.Conns().Len() == 0 })
	s := nd.Stats().Queues
	growth := heapInUse() - before
	t.Logf("budget held %d, %d messages dropped unread; heap grew by %.1f MiB", s.IncomingBudgetHeld, s.UnreadDropped, float64(growth)/(1<<20))
	assert.LessOrEqual(t, s.IncomingBudgetHeld, int64(budget))
	assert.Greater(t, s.IncomingBudgetHeld, int64(budget-2*msgs<<10), "the budget is used, not emptied")
	assert.Positive(t, s.UnreadDropped)
	assert.Less(t, growth, int64(budget+6<<20), "the unread messages within the budget, plus what each ended connection's records cost")

	// What was kept is read, and gives the budget back.
	ctx := ctxT(t)
	read := 0
	for nd.Stats().Queues.IncomingBudgetHeld > 0 {
		_, _, err := nd.Read(ctx)
		require.NoError(t, err)
		read++
	}
	assert.Equal(t, peers*msgs, read+int(nd.Stats().Queues.UnreadDropped), "every message read or counted as dropped")
	assert.Zero(t, nd.inBudget.ended.Len())
}

// TestAppQueueMakesChannelsForWaitersOnly: a queue whose messages are
// taken without waiting (Pool.Read takes them with tryPop) and whose
// reader never waits for room makes none of its wake-up channels, even
// once closed; the first waiter makes them, and a Read that waits is
// still woken by a push, and by the close.
func TestAppQueueMakesChannelsForWaitersOnly(t *testing.T) {
	ctx := ctxT(t)
	q := newAppQueue[int](10, 100, newInBudget(1<<20), nil)
	require.NoError(t, q.push(ctx, 1, 10))
	m, ok, _ := q.tryPop()
	require.True(t, ok)
	assert.Equal(t, 1, m)
	q.release()
	q.close(ErrConnectionClosed)
	assert.Nil(t, q.readSig)
	assert.Nil(t, q.spaceSig)
	assert.Nil(t, q.closed)

	q = newAppQueue[int](10, 100, newInBudget(1<<20), nil)
	got := make(chan int)
	go func() {
		m, _ := q.pop(ctx) // fails the assertion below with 0 on error
		got <- m
	}()
	waitFor(t, "a waiting Read", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.readWaiters == 1 })
	require.NoError(t, q.push(ctx, 2, 10))
	assert.Equal(t, 2, <-got)
	errc := make(chan error)
	go func() {
		_, err := q.pop(ctx)
		errc <- err
	}()
	waitFor(t, "a waiting Read", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.readWaiters == 1 })
	q.close(ErrConnectionClosed)
	assert.ErrorIs(t, <-errc, ErrConnectionClosed)
}
