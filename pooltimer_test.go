package p2ppool

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPoolTimer: a poolTimer's call runs on a goroutine the pool's wait
// group counts; a timer stopped before it fires makes no call; and a call
// that Close is too late to stop (the timer fired, its goroutine waits for
// the pool lock that Close holds) is adopted: Close's wait covers it, and
// it runs nothing.
func TestPoolTimer(t *testing.T) {
	mu := new(poolMutex)
	l := newLifecycle(mu, nil, nil)
	var calls atomic.Int32
	ran := make(chan struct{}, 1)
	pt := l.newTimer(poolGoroutine{}, func() {
		calls.Add(1)
		ran <- struct{}{}
	})

	// Fires while the pool is open: one call.
	mu.Lock()
	pt.resetLocked(0)
	mu.Unlock()
	<-ran
	l.wg.Wait()
	require.EqualValues(t, 1, calls.Load())

	// Stopped before it fires: no call.
	mu.Lock()
	pt.resetLocked(time.Hour)
	pt.cancelLocked()
	assert.False(t, pt.armed)
	mu.Unlock()

	// Fired, its goroutine blocked on the pool lock when Close begins.
	fired := make(chan struct{})
	testHookTimerFired = func() { close(fired) }
	defer func() { testHookTimerFired = func() {} }()
	mu.Lock()
	pt.resetLocked(0)
	<-fired
	close(l.done) // what beginClose does under the pool lock
	pt.stopLocked(l)
	mu.Unlock()
	l.wg.Wait() // returns once the adopted call has seen the pool closed
	assert.EqualValues(t, 1, calls.Load(), "a call after Close began")
}

// TestPoolInRangeRunsNoGoroutine: a pool runs no goroutine of its own
// between its periodic tasks. Two maintained pools connected to each
// other, their connection count within the maintenance's range, cost
// their accept loops, nothing more: the housekeeping and the maintenance
// wait on timers (both used to be a goroutine each, 4 KB of stack or
// more), and on the in-memory network an idle connection's readers park.
func TestPoolInRangeRunsNoGoroutine(t *testing.T) {
	n := newNetwork("mem")
	base := settledGoroutines(t, -1)
	maintained := func(c *Config) {
		c.Limits = Limits{MinConnections: 1, ExpectedConnections: 1, MaxConnections: 2}
		c.Maintenance.IdleTime = time.Minute
		c.Maintenance.SwapLinger = Disabled
	}
	a, b := newNode(t, n, maintained), newNode(t, n, maintained)
	connect(t, a, b)
	ctx := ctxT(t)
	// A run after the connection: it finds the count in range and ends.
	require.NoError(t, a.Maintain(ctx))
	require.NoError(t, b.Maintain(ctx))
	want := base + 2
	if got := settledGoroutines(t, want); got != want {
		t.Fatalf("%d goroutines, want %d: the base %d and two accept loops", got, want, base)
	}
	// The maintenance still runs when asked for.
	require.NoError(t, a.Maintain(ctx))
}
