package p2ppool

import (
	"context"
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
	q := newOutQueue(1 << 30)
	ctx := context.Background()
	pushed, taken := 0, 0
	var batch []outItem
	for round := range 2000 {
		for range rng.IntN(20) {
			b := make([]byte, 1+rng.IntN(100))
			b[0] = byte(pushed)
			require.NoError(t, q.push(ctx, outItem{b: b}, false))
			pushed++
		}
		if pushed == taken {
			continue
		}
		var ok bool
		batch, ok = q.take(batch[:0], 1+rng.IntN(600), nil)
		require.True(t, ok)
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
