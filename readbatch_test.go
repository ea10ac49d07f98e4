package p2ppool

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectionReadBatch: ReadBatch takes every queued message at once,
// in order, waits for one when none is queued, and after the connection
// ends returns what was queued and then the *DisconnectError, as Read.
func TestConnectionReadBatch(t *testing.T) {
	synctest.Test(t, testConnectionReadBatch)
}

func testConnectionReadBatch(t *testing.T) {
	n := newNetwork("mem")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	ab, ba := connect(t, a, b)
	for i := range 5 {
		require.NoError(t, ab.Write(ctxT(t), fmt.Sprint(i)))
	}
	waitFor(t, "all five queued", func() bool { return b.Stats().Queues.AppQueued == 5 })
	got, err := ba.ReadBatch(ctxT(t), nil)
	require.NoError(t, err)
	assert.Equal(t, []text{"0", "1", "2", "3", "4"}, got, "the lot, in order, in one call")
	assert.Zero(t, b.Stats().Queues.AppQueued)

	// None queued: it waits for the next one.
	res := make(chan []text, 1)
	go func() {
		got, err := ba.ReadBatch(ctxT(t), got[:0])
		assert.NoError(t, err)
		res <- got
	}()
	synctest.Wait()
	select {
	case got := <-res:
		t.Fatalf("ReadBatch returned %q with nothing queued", got)
	default:
	}
	require.NoError(t, ab.Write(ctxT(t), "late"))
	assert.Equal(t, []text{"late"}, <-res)

	// Queued before the end: still returned, then the reason.
	require.NoError(t, ab.Write(ctxT(t), "last"))
	waitFor(t, "queued", func() bool { return b.Stats().Queues.AppQueued == 1 })
	require.NoError(t, ab.Disconnect(ctxT(t), false))
	<-ba.Done()
	got, err = ba.ReadBatch(ctxT(t), nil)
	require.NoError(t, err)
	assert.Equal(t, []text{"last"}, got)
	_, err = ba.ReadBatch(ctxT(t), nil)
	var de *DisconnectError
	require.ErrorAs(t, err, &de)

	// A context that ends while it waits.
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	_, err = ba.ReadBatch(ctx, nil)
	assert.Error(t, err)
}

// TestPoolReadBatch: Pool.ReadBatch gives one connection's queued
// messages at a time, naming it, and the connections take turns.
func TestPoolReadBatch(t *testing.T) {
	synctest.Test(t, testPoolReadBatch)
}

func testPoolReadBatch(t *testing.T) {
	n := newNetwork("mem")
	b := newNode(t, n, nil)
	from := make(map[PeerID]int)
	var sent []*testConn
	for i := range 2 {
		a := newNode(t, n, nil)
		ab, _ := connect(t, a, b)
		from[a.Config().Identity.PeerID] = i
		sent = append(sent, ab)
	}
	for i, c := range sent {
		for j := range 3 {
			require.NoError(t, c.Write(ctxT(t), fmt.Sprintf("%d:%d", i, j)))
		}
	}
	waitFor(t, "everything queued", func() bool { return b.Stats().Queues.AppQueued == 6 })
	seen := map[int]bool{}
	var buf []text
	for range 2 {
		c, got, err := b.ReadBatch(ctxT(t), buf[:0])
		require.NoError(t, err)
		i := from[c.Peer()]
		assert.False(t, seen[i], "each connection once: turns")
		seen[i] = true
		assert.Equal(t, []text{fmt.Sprintf("%d:0", i), fmt.Sprintf("%d:1", i), fmt.Sprintf("%d:2", i)}, got)
		buf = got
	}
	assert.Zero(t, b.Stats().Queues.AppQueued)
	assert.Zero(t, b.Stats().Queues.IncomingBudgetHeld)

	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	_, _, err := b.ReadBatch(ctx, nil)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, b.Close())
	_, _, err = b.ReadBatch(ctxT(t), nil)
	assert.ErrorIs(t, err, ErrPoolClosed)
}

// TestAppQueuePopAllBudget: taking the lot gives back every byte it held,
// of the connection's bound and of the pool's budget, and wakes the
// reader waiting for room.
func TestAppQueuePopAllBudget(t *testing.T) {
	synctest.Test(t, testAppQueuePopAllBudget)
}

func testAppQueuePopAllBudget(t *testing.T) {
	ctx := context.Background()
	b := newInBudget(100 << 10)
	q := newAppQueue[int](10, 1<<20, b, nil)
	for i := range 4 {
		require.NoError(t, q.push(ctx, i, 32<<10))
	}
	assert.Equal(t, int64(64<<10), b.held.Load(), "beyond the 64 KiB allowance")
	// 64 KiB more would pass the pool's 100 KiB: the reserve waits.
	reserved := make(chan error, 1)
	go func() { reserved <- q.reserve(ctx, 64<<10) }()
	synctest.Wait()
	notYet(t, reserved, "reserve")
	got, err := q.popAll(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3}, got)
	require.NoError(t, <-reserved, "the reader waiting for the budget went on")
	n, bytes := q.len()
	assert.Zero(t, n)
	assert.Equal(t, 64<<10, bytes, "only the new reservation")
	q.release()
	assert.Zero(t, b.held.Load())
}
