package p2ppool

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
)

// TestOutQueueKeepsOrderAndCounts pushes and takes in random interleavings
// (partial takes from the head, whole-queue hand-overs, compaction when
// the slice is full) and checks that items come out in order and that the
// byte and item counts stay exact.
func TestOutQueueKeepsOrderAndCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	q := newOutQueue(1<<30, newOutBudget(1<<30), nil, nil)
	ctx := context.Background()
	pushed, taken := 0, 0
	var batch []outItem
	for round := range 2000 {
		for range rng.IntN(20) {
			b := make([]byte, 1+rng.IntN(100))
			b[0] = byte(pushed)
			// pooled, so as to stay an item of its own (the test never
			// releases it).
			require.NoError(t, q.push(ctx, outItem{b: b, pooled: true}, false))
			pushed++
		}
		if pushed == taken {
			continue
		}
		var res takeResult
		batch, res = q.take(batch[:0], 1+rng.IntN(600))
		require.Equal(t, tookItems, res)
		require.NotEmpty(t, batch)
		for _, it := range batch {
			require.Equal(t, byte(taken), it.b[0], "round %d", round)
			taken++
		}
		clear(batch)
		items, bytes := q.len()
		require.Equal(t, pushed-taken, items)
		want := 0
		for _, it := range q.items[q.head:] {
			want += len(it.b)
		}
		require.Equal(t, want, bytes)
	}
}

// TestOutQueueArenas copies small messages into arenas in random
// interleavings with large items and takes: every message comes out once,
// in order, and the queue's count is the memory it holds, each arena's
// whole capacity, so that small messages between large ones (each in an
// arena of its own) cannot make it hold more than its bound.
func TestOutQueueArenas(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const bound = 64 << 10
	q := newOutQueue(bound, newOutBudget(1<<30), nil, nil)
	ctx := context.Background()
	pushed, taken := 0, 0
	var batch []outItem
	for round := range 2000 {
		for range rng.IntN(20) {
			var err error
			if rng.IntN(4) == 0 {
				b := make([]byte, 4+smallMessage+1+rng.IntN(100))
				binary.BigEndian.PutUint32(b, uint32(len(b)-4))
				b[4] = byte(pushed)
				err = q.push(ctx, outItem{b: b, pooled: true}, false)
			} else {
				b := make([]byte, 5+rng.IntN(200))
				binary.BigEndian.PutUint32(b, uint32(len(b)-4))
				b[4] = byte(pushed)
				err = q.pushCopy(ctx, b, false)
			}
			if errors.Is(err, ErrQueueFull) {
				continue
			}
			require.NoError(t, err)
			pushed++
		}
		items, held := q.len()
		memory := 0 // what the queued items hold: an arena's whole buffer
		for _, it := range q.items[q.head:] {
			if it.msgs > 0 {
				memory += cap(it.b)
			} else {
				memory += len(it.b)
			}
		}
		require.LessOrEqual(t, memory, bound+arenaSize, "round %d: the memory held is within the bound (plus one item taken into an empty queue)", round)
		require.Equal(t, memory, held, "round %d: the queue counts what it holds", round)
		if items == 0 {
			continue
		}
		var res takeResult
		batch, res = q.take(batch[:0], 1+rng.IntN(64<<10))
		require.Equal(t, tookItems, res)
		for _, it := range batch {
			n := 0
			for rest := it.b; len(rest) > 0; n++ {
				size := 4 + int(binary.BigEndian.Uint32(rest))
				require.Equal(t, byte(taken), rest[4], "round %d", round)
				taken++
				rest = rest[size:]
			}
			require.Equal(t, max(it.msgs, 1), n)
		}
		clear(batch)
	}
	require.Positive(t, taken)
}

// TestOutQueueArenaSizes: a run of small messages starts in a small
// arena, so that a connection whose writer keeps up, or small messages
// between large ones, hold little per message; once that arena is full
// it goes on in arenas of a full chunk, filled as far as one chunk's
// plaintext allows, which the writer then seals where they lie
// (internal/socket's ownChunkMin).
func TestOutQueueArenaSizes(t *testing.T) {
	ctx := context.Background()
	msg := make([]byte, 1000)
	binary.BigEndian.PutUint32(msg, uint32(len(msg)-4))
	q := newOutQueue(8<<20, newOutBudget(1<<30), nil, nil)
	for len(q.items) < 3 {
		require.NoError(t, q.pushCopy(ctx, msg, false))
	}
	assert.Equal(t, arenaFirst, cap(q.items[0].b), "the first arena of a run")
	assert.Equal(t, arenaFirst/len(msg), q.items[0].msgs)
	assert.Equal(t, arenaSize, cap(q.items[1].b), "the arena after a full one")
	assert.Equal(t, arenaFill/len(msg), q.items[1].msgs, "filled up to one chunk's plaintext")
	assert.LessOrEqual(t, len(q.items[1].b), socket.MaxChunkPayload)

	// The writer takes everything: the next run starts small again.
	batch, res := q.take(nil, 1<<30)
	require.Equal(t, tookItems, res)
	q.releaseItems(batch, nil)
	require.NoError(t, q.pushCopy(ctx, msg, false))
	assert.Equal(t, arenaFirst, cap(q.items[q.head].b))

	// Behind a large message, queued, a small one starts a run again.
	large := make([]byte, 4+smallMessage+1)
	binary.BigEndian.PutUint32(large, uint32(len(large)-4))
	require.NoError(t, q.push(ctx, outItem{b: large, pooled: true}, false))
	require.NoError(t, q.pushCopy(ctx, msg, false))
	assert.Equal(t, arenaFirst, cap(q.items[len(q.items)-1].b), "after a large message")

	// Under a bound smaller than an arena, the arena stays within the
	// bound, so that the messages that fit in it are taken: rounded up to
	// 4 KiB, it used to fill a 3,000-byte queue alone and have every
	// message after the first refused.
	small := newOutQueue(3000, newOutBudget(1<<30), nil, nil)
	require.NoError(t, small.pushCopy(ctx, msg, false))
	require.NoError(t, small.pushCopy(ctx, msg, false), "a message that fits the open arena")
	_, held := small.len()
	assert.Equal(t, 2048, held)
	require.ErrorIs(t, small.pushCopy(ctx, msg, false), ErrQueueFull, "a second arena passes the bound")
}

// TestOutQueueWriterHandOver pins the protocol between pushes, the
// writer and close (outQueue.running): a push starts a writer only when
// none runs, a writer that found the queue empty stops only if nothing
// came meanwhile, and a drain that closes the queue between the writer's
// take and its exit is left to that writer, which must then go on to see
// the close rather than exit.
// startFunc is a writerStarter that calls itself.
type startFunc func()

func (f startFunc) startWriter() { f() }

func TestOutQueueWriterHandOver(t *testing.T) {
	ctx := context.Background()
	starts := 0
	q := newOutQueue(1<<20, newOutBudget(1<<30), nil, startFunc(func() { starts++ }))
	require.NoError(t, q.pushCopy(ctx, []byte("a"), false))
	assert.Zero(t, starts, "held until the reader runs")
	q.unhold()
	assert.Equal(t, 1, starts, "what was queued before starts a writer")
	require.NoError(t, q.pushCopy(ctx, []byte("b"), false))
	assert.Equal(t, 1, starts, "one writer at a time")

	batch, res := q.take(nil, 1<<20)
	require.Equal(t, tookItems, res)
	q.releaseItems(batch, nil)
	_, res = q.take(batch[:0], 1<<20)
	require.Equal(t, takeEmpty, res)
	require.NoError(t, q.pushCopy(ctx, []byte("c"), false))
	assert.False(t, q.exit(nil, nil), "queued between take and exit: the writer goes on")
	assert.Equal(t, 1, starts)
	batch, res = q.take(nil, 1<<20)
	require.Equal(t, tookItems, res)
	q.releaseItems(batch, nil)
	_, res = q.take(batch[:0], 1<<20)
	require.Equal(t, takeEmpty, res)
	assert.True(t, q.exit(nil, nil))
	require.NoError(t, q.pushCopy(ctx, []byte("d"), false))
	assert.Equal(t, 2, starts, "the next push starts a new writer")

	batch, res = q.take(nil, 1<<20)
	require.Equal(t, tookItems, res)
	q.releaseItems(batch, nil)
	_, res = q.take(batch[:0], 1<<20)
	require.Equal(t, takeEmpty, res)
	closed := errors.New("closed")
	assert.True(t, q.close(closed, true), "the running writer finishes the drain")
	assert.False(t, q.exit(nil, nil), "closed between take and exit: the writer goes on")
	_, res = q.take(nil, 1<<20)
	assert.Equal(t, takeClosed, res)
	assert.Equal(t, 2, starts)
}

// TestOutQueueDrainStartsWriter: a drain of a queue with messages and no
// writer starts one; with nothing queued it reports that no writer will
// finish the close.
func TestOutQueueDrainStartsWriter(t *testing.T) {
	ctx := context.Background()
	starts := 0
	q := newOutQueue(1<<20, newOutBudget(1<<30), nil, startFunc(func() { starts++ }))
	q.unhold()
	assert.False(t, q.close(errors.New("closed"), true), "nothing to send: nobody finishes the close")
	assert.Zero(t, starts)

	q = newOutQueue(1<<20, newOutBudget(1<<30), nil, startFunc(func() { starts++ }))
	q.unhold()
	require.NoError(t, q.pushCopy(ctx, []byte("a"), false))
	batch, _ := q.take(nil, 1<<20)
	q.releaseItems(batch, nil)
	_, res := q.take(batch[:0], 1<<20)
	require.Equal(t, takeEmpty, res)
	require.True(t, q.exit(nil, nil))
	assert.Equal(t, 1, starts)
	require.NoError(t, q.pushLast(outItem{b: []byte("bye"), pooled: true}))
	assert.Equal(t, 2, starts, "the last message starts a writer")
}

// TestOutQueueWakesWaitersTwice: the channel blocked Writes wait on is
// made by the first of them and dropped when closed; a second take that
// comes before the woken Writes have left (spaceWaiters still counts
// them) must not close it again.
func TestOutQueueWakesWaitersTwice(t *testing.T) {
	q := newOutQueue(1<<20, newOutBudget(1<<30), nil, nil)
	assert.Nil(t, q.space, "no channel before a Write waits")
	q.mu.Lock()
	q.space = make(chan struct{}) // what a waiting Write does
	space := q.space
	q.spaceWaiters++
	q.wakeWritersLocked()
	q.wakeWritersLocked() // the waiter has not left yet
	q.mu.Unlock()
	select {
	case <-space:
	default:
		t.Fatal("the waiter's channel is not closed")
	}
	assert.Nil(t, q.space, "the next waiter makes a new channel")
}
