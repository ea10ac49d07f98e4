package p2ppool

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
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
