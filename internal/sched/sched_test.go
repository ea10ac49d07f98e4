package sched

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const kib = 1 << 10

// sent returns the bytes each connection has sent.
func sent(cs ...*Conn) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Stat().TotalSent
	}
	return out
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// TestGlobalOutflowFairShare: two connections writing flat out under a
// global cap each get half of it, and together the cap.
func TestGlobalOutflowFairShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 100 * kib
		s := newSched(t, Config{Limits: Limits{MaxOutflow: rate}})
		defer s.Close()
		var r rig
		a, b := r.drained(s), r.drained(s)
		r.writeLoop(a, 256*kib) // the pool's batch size
		r.writeLoop(b, 256*kib)
		time.Sleep(10 * time.Second)
		got := sent(a, b)
		r.close()
		t.Logf("sent %v in 10 s at %d B/s", got, rate)
		for _, n := range got {
			assert.InEpsilon(t, rate*10/2, n, 0.10)
		}
		assert.InEpsilon(t, rate*10, sum(got), 0.05)
		// Once everything stopped, the global totals are the sums.
		assert.Equal(t, sum(sent(a, b)), s.Stat().TotalSent)
	})
}

// TestFairShareIsInBytes: the share does not depend on the sizes of the
// writes: a connection writing 100-byte messages gets as many bytes as one
// writing 256 KiB batches (start-time fair queueing, not per-IO round
// robin).
func TestFairShareIsInBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 60 * kib
		s := newSched(t, Config{Limits: Limits{MaxOutflow: rate}})
		defer s.Close()
		var r rig
		cs := []*Conn{r.drained(s), r.drained(s), r.drained(s)}
		r.writeLoop(cs[0], 256*kib)
		r.writeLoop(cs[1], 16*kib)
		r.writeLoop(cs[2], 100)
		time.Sleep(10 * time.Second)
		got := sent(cs...)
		r.close()
		t.Logf("sent %v in 10 s at %d B/s", got, rate)
		for _, n := range got {
			assert.InEpsilon(t, rate*10/3, n, 0.10)
		}
		assert.InEpsilon(t, rate*10, sum(got), 0.05)
	})
}

// TestWorkConserving: an idle connection's share goes to the busy one, as
// octez's low-priority queue hands it out.
func TestWorkConserving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 50 * kib
		s := newSched(t, Config{Limits: Limits{MaxOutflow: rate}})
		defer s.Close()
		var r rig
		busy, _ := r.drained(s), r.drained(s)
		r.writeLoop(busy, 64*kib)
		time.Sleep(10 * time.Second)
		n := busy.Stat().TotalSent
		r.close()
		assert.InEpsilon(t, rate*10, n, 0.05)
	})
}

// TestGlobalInflowFairShare: the same for reads, paid after the fact.
func TestGlobalInflowFairShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 100 * kib
		s := newSched(t, Config{Limits: Limits{MaxInflow: rate}})
		defer s.Close()
		var r rig
		a, b := r.fed(s), r.fed(s)
		r.readLoop(a, 64*kib) // the socket's chunk reader reads up to 64 KiB
		r.readLoop(b, 1*kib)
		time.Sleep(10 * time.Second)
		got := []int64{a.Stat().TotalRecv, b.Stat().TotalRecv}
		r.close()
		t.Logf("received %v in 10 s at %d B/s", got, rate)
		for _, n := range got {
			assert.InEpsilon(t, rate*10/2, n, 0.10)
		}
		assert.InEpsilon(t, rate*10, sum(got), 0.05)
		assert.Equal(t, a.Stat().TotalRecv+b.Stat().TotalRecv, s.Stat().TotalRecv)
	})
}

// TestPerConnectionCap: each connection is held to its own cap, alone or
// under a global cap that is not binding, and shares the global cap when
// that is the binding one.
func TestPerConnectionCap(t *testing.T) {
	for _, tc := range []struct {
		name          string
		limits        Limits
		conns         int
		wantPerSecond int64
	}{
		{"alone", Limits{ConnMaxOutflow: 20 * kib}, 2, 20 * kib},
		{"global not binding", Limits{MaxOutflow: 100 * kib, ConnMaxOutflow: 20 * kib}, 3, 20 * kib},
		{"global binding", Limits{MaxOutflow: 30 * kib, ConnMaxOutflow: 20 * kib}, 2, 15 * kib},
		{"fair share under cap", Limits{MaxOutflow: 90 * kib, ConnMaxOutflow: 40 * kib}, 3, 30 * kib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSched(t, Config{Limits: tc.limits})
				defer s.Close()
				var r rig
				var cs []*Conn
				for range tc.conns {
					c := r.drained(s)
					cs = append(cs, c)
					r.writeLoop(c, 256*kib)
				}
				time.Sleep(10 * time.Second)
				got := sent(cs...)
				r.close()
				t.Logf("sent %v in 10 s", got)
				for _, n := range got {
					assert.InEpsilon(t, tc.wantPerSecond*10, n, 0.05)
				}
			})
		})
	}
}

// TestPerConnectionInflowCap: reads too.
func TestPerConnectionInflowCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 10 * kib
		s := newSched(t, Config{Limits: Limits{ConnMaxInflow: rate}})
		defer s.Close()
		var r rig
		c := r.fed(s)
		r.readLoop(c, 64*kib)
		time.Sleep(10 * time.Second)
		n := c.Stat().TotalRecv
		r.close()
		assert.InEpsilon(t, rate*10, n, 0.05)
	})
}

// TestUnlimitedNeverWaits: with no limit, Read and Write never wait for
// time to pass.
func TestUnlimitedNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSched(t, Config{})
		defer s.Close()
		var r rig
		w, rd := r.drained(s), r.fed(s)
		start := time.Now()
		buf := make([]byte, 256*kib)
		for range 400 {
			_, err := w.Write(buf)
			require.NoError(t, err)
			_, err = rd.Read(buf)
			require.NoError(t, err)
		}
		assert.Zero(t, time.Since(start), "fake time moved: something waited")
		assert.EqualValues(t, 400*256*kib, w.Stat().TotalSent)
		assert.EqualValues(t, 400*64*kib, rd.Stat().TotalRecv) // the feeder writes 64 KiB
		r.close()
	})
}

// TestRaiseLimitMidRun: a raised limit applies within one period, even for
// a writer deep in debt, and a removed limit releases waiters at once.
func TestRaiseLimitMidRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slow, fast = 20 * kib, 200 * kib
		s := newSched(t, Config{Limits: Limits{MaxOutflow: slow}})
		defer s.Close()
		var r rig
		a, b := r.drained(s), r.drained(s)
		r.writeLoop(a, 256*kib)
		r.writeLoop(b, 256*kib)
		time.Sleep(5 * time.Second)
		at5 := sum(sent(a, b))
		assert.InEpsilon(t, slow*5, at5, 0.10)
		require.NoError(t, s.SetLimits(Limits{MaxOutflow: fast}))
		time.Sleep(time.Second)
		at6 := sum(sent(a, b))
		assert.InEpsilon(t, fast, at6-at5, 0.10, "first period after the change")
		time.Sleep(4 * time.Second)
		at10 := sum(sent(a, b))
		assert.InEpsilon(t, fast*4, at10-at6, 0.05)
		r.close()
	})
}

// TestRaiseLimitWakesDebtor: at 100 B/s a bucket holds 10 bytes, so a
// 1 KiB chunk (the smallest) overdraws it by ten seconds' worth; raising
// the limit must not leave the writer sleeping that long.
func TestRaiseLimitWakesDebtor(t *testing.T) {
	for _, tc := range []struct {
		name        string
		slow, fast  Limits
		wantElapsed time.Duration
	}{
		{"global", Limits{MaxOutflow: 100}, Limits{MaxOutflow: 1 << 20}, 2 * time.Second},
		{"per connection", Limits{ConnMaxOutflow: 100}, Limits{ConnMaxOutflow: 1 << 20}, 2 * time.Second},
		{"global removed", Limits{MaxOutflow: 100}, Limits{}, time.Second},
		{"per connection removed", Limits{ConnMaxOutflow: 100}, Limits{}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSched(t, Config{Limits: tc.slow})
				defer s.Close()
				var r rig
				c := r.drained(s)
				start := time.Now()
				done := make(chan time.Duration)
				go func() {
					_, err := c.Write(make([]byte, 64*kib))
					assert.NoError(t, err)
					done <- time.Since(start)
				}()
				time.Sleep(time.Second)
				require.NoError(t, s.SetLimits(tc.fast))
				elapsed := <-done
				assert.LessOrEqual(t, elapsed, tc.wantElapsed)
				r.close()
			})
		})
	}
}

// TestLowerLimit: lowering a limit applies too.
func TestLowerLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSched(t, Config{})
		defer s.Close()
		var r rig
		c := r.drained(s)
		r.writeLoop(c, 64*kib)
		// Unlimited, the writer never lets fake time pass: yield to it
		// instead of sleeping.
		for c.Stat().TotalSent < 1<<20 {
			runtime.Gosched()
		}
		require.NoError(t, s.SetLimits(Limits{MaxOutflow: 10 * kib}))
		at1 := c.Stat().TotalSent
		time.Sleep(10 * time.Second)
		n := c.Stat().TotalSent - at1
		r.close()
		// The unlimited writer is stopped on its next chunk; what it had
		// already been granted may overshoot by one write.
		assert.InDelta(t, 100*kib, n, 64*kib+10*kib)
	})
}

// TestCloseUnblocksWaiters: Close releases a Write waiting for the global
// bucket, a Write waiting for its own, and a Read paying its debt, at once.
func TestCloseUnblocksWaiters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		read   bool
	}{
		{"global write", Limits{MaxOutflow: 100}, false},
		{"per connection write", Limits{ConnMaxOutflow: 100}, false},
		{"global read", Limits{MaxInflow: 100}, true},
		{"per connection read", Limits{ConnMaxInflow: 100}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSched(t, Config{Limits: tc.limits})
				defer s.Close()
				var r rig
				var c *Conn
				if tc.read {
					c = r.fed(s)
				} else {
					c = r.drained(s)
				}
				errc := make(chan error)
				go func() {
					buf := make([]byte, 64*kib)
					for {
						var err error
						if tc.read {
							_, err = c.Read(buf)
						} else {
							_, err = c.Write(buf)
						}
						if err != nil {
							errc <- err
							return
						}
					}
				}()
				time.Sleep(time.Second)
				synctest.Wait()
				closedAt := time.Now()
				c.Close()
				err := <-errc
				assert.ErrorIs(t, err, net.ErrClosed)
				assert.Equal(t, closedAt, time.Now(), "Close must not wait")
				r.close()
			})
		})
	}
}

// TestDeadlineUnblocksWaiters: a deadline bounds the wait for bandwidth,
// and a past deadline (how the handshake aborts) ends it at once.
func TestDeadlineUnblocksWaiters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
	}{
		{"global", Limits{MaxOutflow: 100}},
		{"per connection", Limits{ConnMaxOutflow: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSched(t, Config{Limits: tc.limits})
				defer s.Close()
				var r rig
				c := r.drained(s)
				start := time.Now()
				require.NoError(t, c.SetWriteDeadline(start.Add(3*time.Second)))
				_, err := c.Write(make([]byte, 64*kib))
				assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
				assert.Equal(t, 3*time.Second, time.Since(start))

				require.NoError(t, c.SetDeadline(time.Time{}))
				errc := make(chan error)
				go func() {
					_, err := c.Write(make([]byte, 64*kib))
					errc <- err
				}()
				time.Sleep(time.Second)
				abortedAt := time.Now()
				require.NoError(t, c.SetDeadline(time.Unix(1, 0)))
				err = <-errc
				assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
				assert.Equal(t, abortedAt, time.Now())
				r.close()
			})
		})
	}
}

// TestClosedConnectionsStayInTotals: the scheduler's totals are octez's
// global counters, which outlive connections.
func TestClosedConnectionsStayInTotals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSched(t, Config{})
		defer s.Close()
		var r rig
		a, b := r.drained(s), r.drained(s)
		_, err := a.Write(make([]byte, 1000))
		require.NoError(t, err)
		_, err = b.Write(make([]byte, 500))
		require.NoError(t, err)
		a.Close()
		assert.EqualValues(t, 1500, s.Stat().TotalSent)
		assert.EqualValues(t, 1000, a.Stat().TotalSent)
		// The closed connection's last bytes still reach the global
		// moving average.
		time.Sleep(time.Second + time.Millisecond)
		assert.EqualValues(t, 200*1500/1000, s.Stat().CurrentOutflow)
		r.close()
	})
}

// TestMovingAverageFormula checks octez's integer step.
func TestMovingAverageFormula(t *testing.T) {
	assert.EqualValues(t, 200, movingAverage(0, 1000, 1000))
	assert.EqualValues(t, 200+800, movingAverage(1000, 1000, 1000))
	// A late tick: twice the bytes over twice the time is the same rate.
	assert.EqualValues(t, 200, movingAverage(0, 2000, 2000))
	// Truncations as OCaml's integer division.
	assert.EqualValues(t, 66+799, movingAverage(999, 1000, 3000))
	avg := int64(0)
	for range 30 {
		avg = movingAverage(avg, 123456, 1000)
	}
	assert.InDelta(t, 123456, avg, 123456*0.002)
}

// TestMovingAveragesConverge: the flows reported per connection and
// globally converge to the true rates.
func TestMovingAveragesConverge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const up, down = 30 * kib, 12 * kib
		s := newSched(t, Config{Limits: Limits{ConnMaxOutflow: up, ConnMaxInflow: down}})
		defer s.Close()
		var r rig
		a, b, c := r.drained(s), r.drained(s), r.fed(s)
		r.writeLoop(a, 16*kib)
		r.writeLoop(b, 16*kib)
		r.readLoop(c, 64*kib)
		time.Sleep(500 * time.Millisecond) // sample between ticks
		time.Sleep(30 * time.Second)
		for _, x := range []*Conn{a, b} {
			assert.InEpsilon(t, up, x.Stat().CurrentOutflow, 0.03)
			assert.Zero(t, x.Stat().CurrentInflow)
		}
		assert.InEpsilon(t, down, c.Stat().CurrentInflow, 0.03)
		g := s.Stat()
		assert.InEpsilon(t, 2*up, g.CurrentOutflow, 0.03)
		assert.InEpsilon(t, down, g.CurrentInflow, 0.03)
		r.close()
		// Once traffic stops, the averages decay towards zero.
		time.Sleep(30 * time.Second)
		assert.Less(t, s.Stat().CurrentOutflow, 2*up/500)
	})
}

// TestCloseStopsTicker: Close is idempotent and, once it returns, the
// averages no longer move (goleak checks the goroutine is gone).
func TestCloseStopsTicker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSched(t, Config{Period: 100 * time.Millisecond})
		var r rig
		c := r.drained(s)
		_, err := c.Write(make([]byte, 1000))
		require.NoError(t, err)
		time.Sleep(150 * time.Millisecond)
		assert.EqualValues(t, 200*1000/100, c.Stat().CurrentOutflow)
		s.Close()
		s.Close()
		time.Sleep(time.Second)
		assert.EqualValues(t, 200*1000/100, c.Stat().CurrentOutflow)
		r.close()
	})
}

func TestInvalidConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Limits: Limits{MaxInflow: -1}},
		{Limits: Limits{ConnMaxOutflow: -1}},
		{Period: -time.Second},
		{Quantum: -1},
	} {
		_, err := New(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}
	s := newSched(t, Config{Limits: Limits{MaxOutflow: 5}})
	defer s.Close()
	assert.ErrorIs(t, s.SetLimits(Limits{MaxOutflow: -5}), ErrInvalidConfig)
	assert.Equal(t, Limits{MaxOutflow: 5}, s.Limits())
	require.NoError(t, s.SetLimits(Limits{MaxInflow: 7}))
	assert.Equal(t, Limits{MaxInflow: 7}, s.Limits())
}

// TestUnlimitedAllocs: the unlimited path allocates nothing.
func TestUnlimitedAllocs(t *testing.T) {
	s := newSched(t, Config{})
	defer s.Close()
	c := s.Wrap(&fakeConn{})
	defer c.Close()
	buf := make([]byte, 100)
	allocs := testing.AllocsPerRun(1000, func() {
		c.Write(buf)
		c.Read(buf)
	})
	assert.Zero(t, allocs)
}

// TestLimitedAllocs: once warmed up, the limited path allocates nothing
// either (timers and channels are per connection and reused).
func TestLimitedAllocs(t *testing.T) {
	s := newSched(t, Config{Limits: Limits{MaxOutflow: 1 << 50, ConnMaxOutflow: 1 << 50, MaxInflow: 1 << 50, ConnMaxInflow: 1 << 50}})
	defer s.Close()
	c := s.Wrap(&fakeConn{})
	defer c.Close()
	buf := make([]byte, 100)
	c.Write(buf)
	c.Read(buf)
	allocs := testing.AllocsPerRun(1000, func() {
		c.Write(buf)
		c.Read(buf)
	})
	assert.Zero(t, allocs)
}

// TestWriteStallTimeout: a peer that reads nothing fails the Write after
// the stall timeout; under a bandwidth cap, the waits for tokens do not
// count, however longer than the timeout the Write takes.
func TestWriteStallTimeout(t *testing.T) {
	t.Run("peer never reads", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newSched(t, Config{})
			defer s.Close()
			a, b := net.Pipe()
			defer b.Close()
			c := s.Wrap(a)
			defer c.Close()
			c.SetWriteStallTimeout(30 * time.Second)
			start := time.Now()
			_, err := c.Write(make([]byte, 100))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.Equal(t, 30*time.Second, time.Since(start))
		})
	})
	t.Run("slow cap, reading peer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newSched(t, Config{Limits: Limits{ConnMaxOutflow: 10 * kib}})
			defer s.Close()
			var r rig
			c := r.drained(s)
			defer r.close()
			c.SetWriteStallTimeout(time.Second)
			start := time.Now()
			n, err := c.Write(make([]byte, 100*kib))
			require.NoError(t, err)
			assert.Equal(t, 100*kib, n)
			assert.Greater(t, time.Since(start), 5*time.Second, "the cap made it slow, and that is no stall")
		})
	})
}

// TestCloseStopsTheLimiterTimer: a waiter that leaves (its connection
// closed) leaves the global limiter's timer armed for the instant it
// waited for; the scheduler's Close stops it, so no call of it runs after
// Close has returned, and a connection still used afterwards is served by
// a new timer.
func TestCloseStopsTheLimiterTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSched(t, Config{Limits: Limits{MaxOutflow: 100}})
		var r rig
		c := r.drained(s)
		errc := make(chan error)
		go func() {
			buf := make([]byte, 64*kib)
			for {
				if _, err := c.Write(buf); err != nil {
					errc <- err
					return
				}
			}
		}()
		time.Sleep(time.Second)
		synctest.Wait() // the writer waits for the global bucket
		c.Close()
		require.ErrorIs(t, <-errc, net.ErrClosed)
		s.lim[out].mu.Lock()
		timer := s.lim[out].timer
		s.lim[out].mu.Unlock()
		require.NotNil(t, timer)
		s.Close()
		assert.False(t, timer.Reset(time.Nanosecond), "the timer is closed: it calls nothing once Close has returned")
		r.close()

		// A connection used after Close is still limited, by a new timer.
		c2 := r.drained(s)
		defer r.close()
		start := time.Now()
		_, err := c2.Write(make([]byte, 300))
		require.NoError(t, err)
		assert.Greater(t, time.Since(start), time.Second, "300 bytes at 100 B/s after Close")
		c2.Close()
		s.Close()
	})
}
