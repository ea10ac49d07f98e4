package p2ppool

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSharedUploadCapIsSplitFairly: a pool with a 100 KiB/s upload cap
// writing as fast as it can to two peers for 10 s gives each about half.
func TestSharedUploadCapIsSplitFairly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 100 << 10
		n := newNetwork("mem")
		a := newNode(t, n, func(c *Config) { c.Limits.MaxUploadSpeed = limit })
		b, c := newNode(t, n, nil), newNode(t, n, nil)
		ab, ba := connect(t, a, b)
		ac, ca := connect(t, a, c)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msg := strings.Repeat("x", 4<<10)
		var wg sync.WaitGroup
		received := make([]int, 2)
		for i, pair := range [][2]*testConn{{ab, ba}, {ac, ca}} {
			wg.Go(func() {
				for ctx.Err() == nil {
					if pair[0].Write(ctx, msg) != nil {
						return
					}
				}
			})
			wg.Go(func() {
				for {
					m, err := pair[1].Read(ctx)
					if err != nil {
						return
					}
					received[i] += len(m)
				}
			})
		}
		wg.Wait()
		total := received[0] + received[1]
		t.Logf("received %d and %d bytes in 10 s under a %d B/s cap", received[0], received[1], limit)
		assert.InDelta(t, 10*limit, total, 0.1*10*limit, "the cap holds")
		for _, r := range received {
			assert.InDelta(t, 5*limit, r, 0.1*5*limit, "each connection gets about half")
		}
		fs := a.Stats().Traffic.Flow
		require.GreaterOrEqual(t, fs.TotalSent, int64(total), "wire bytes include framing")
	})
}

// TestCurrentFlowsRefresh checks that the pool refreshes its traffic
// rates every second (the housekeeping goroutine ticks the scheduler):
// after a second of steady sending both the pool's and the connection's
// current outflow are near the rate sent, and a second of silence brings
// them down.
func TestCurrentFlowsRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a, b := newNode(t, n, nil), newNode(t, n, nil)
		ab, ba := connect(t, a, b)
		ctx := context.Background()
		msg := strings.Repeat("x", 10<<10)
		for range 10 { // 100 KiB in the first second
			require.NoError(t, ab.Write(ctx, msg))
			_, err := ba.Read(ctx)
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // past the tick at 1 s
		synctest.Wait()
		pool, conn := a.Stats().Traffic.Flow.CurrentOutflow, ab.Stat().Flow.CurrentOutflow
		// octez's moving average moves a fifth of the way each tick
		// (α = 0.2) from 0: about 20 KB/s after one second of 100 KB/s.
		assert.InDelta(t, 20<<10, pool, 4<<10, "pool outflow")
		assert.InDelta(t, 20<<10, conn, 4<<10, "connection outflow")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Less(t, a.Stats().Traffic.Flow.CurrentOutflow, pool, "a silent second lowers the rate")
	})
}
