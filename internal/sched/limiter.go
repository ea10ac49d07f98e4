package sched

import (
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool/internal/ownedtimer"
)

// slack absorbs the float rounding of refills: a timer computed to fire
// when the bucket covers a request must find it covered.
const slack = 1e-3

// limiter is the bandwidth limiter of one direction: a global token bucket
// whose waiters are served in start-time fair queueing order, and the
// parameters of the per-connection buckets (which live in each flow).
type limiter struct {
	// limited is set when any limit applies to the direction. It is the
	// only thing an unlimited Read or Write looks at.
	limited atomic.Bool
	// chunk is the most a limited Read or Write moves at once: the
	// scheduler's quantum, or less when a bucket is smaller, so that slow
	// limits are paced in small steps rather than by long overdrafts.
	chunk atomic.Int64
	// Keep the flags read by every IO off the lines the mutex's users
	// write.
	_ [64]byte

	mu sync.Mutex
	// Global bucket; rate 0 means unlimited.
	rate, burst float64
	tokens      float64
	last        time.Time
	// Per-connection buckets' parameters; connRate 0 means unlimited.
	connRate, connBurst float64
	// vtime is the SFQ virtual time: the start tag of the last request
	// served, in bytes.
	vtime int64
	seq   uint64
	queue []*flow
	// timer runs dispatch when the bucket will cover the first waiter;
	// armedAt is when, if armed. The scheduler's Close closes it, and
	// waits for a call under way (ownedtimer); a limiter used after
	// Close makes a new one.
	timer   *ownedtimer.Timer
	armed   bool
	armedAt time.Time
	_       [64]byte
}

// burstFor is the capacity of a bucket of the given rate.
func burstFor(rate float64) float64 {
	return max(1, rate*BurstWindow.Seconds())
}

// minChunk is the smallest chunk: below it, syscalls would cost more
// than the smoothness they buy.
const minChunk = 1 << 10

// setChunk derives the chunk size from the quantum and the buckets'
// capacities.
func (l *limiter) setChunk(quantum int) {
	c := float64(quantum)
	if l.rate > 0 {
		c = min(c, l.burst)
	}
	if l.connRate > 0 {
		c = min(c, l.connBurst)
	}
	l.chunk.Store(int64(max(c, min(minChunk, float64(quantum)))))
}

// delayFor is how long a bucket of the given rate takes to gain deficit
// tokens, rounded up so that the bucket does cover them by then.
func delayFor(deficit, rate float64) time.Duration {
	return max(1, time.Duration(math.Ceil(deficit/rate*1e9)))
}

// setGlobal changes the global rate, having first accounted the time
// elapsed at the old rate. A bucket that was unlimited starts full.
func (l *limiter) setGlobal(rate float64, now time.Time) {
	if l.rate > 0 {
		l.refill(now)
	} else {
		l.tokens = burstFor(rate)
		l.last = now
	}
	l.rate = rate
	l.burst = burstFor(rate)
	l.tokens = min(l.tokens, l.burst)
}

// setConn changes the per-connection rate; call settleConn on every flow
// first.
func (l *limiter) setConn(rate float64) {
	l.connRate = rate
	l.connBurst = burstFor(rate)
}

// settleConn accounts the time f's bucket spent at the current
// per-connection rate, before that rate changes. A bucket that was
// unlimited is reset, to start full.
func (l *limiter) settleConn(f *flow, now time.Time) {
	if l.connRate > 0 && !f.refilled.IsZero() {
		f.refill(now, l.connRate, l.connBurst)
	} else {
		f.refilled = time.Time{}
	}
}

func (l *limiter) refill(now time.Time) {
	if el := now.Sub(l.last); el > 0 {
		l.tokens = min(l.burst, l.tokens+l.rate*el.Seconds())
		l.last = now
	}
}

// acquire waits until n more bytes of f's connection may cross: first its
// own bucket, then its turn at the global bucket. It fails when the
// connection is closed (net.ErrClosed) or its deadline for the direction
// passes (os.ErrDeadlineExceeded). Only the goroutine holding f.opMu calls
// it.
func (l *limiter) acquire(c *Conn, f *flow, n int) error {
	// The common case, budget available in both buckets, takes the lock
	// and reads the clock once.
	l.mu.Lock()
	now := time.Now()
	if l.connRate > 0 && !l.takeConn(f, n, now) {
		l.mu.Unlock()
		if err := l.acquireConn(c, f, n); err != nil {
			return err
		}
		l.mu.Lock()
		now = time.Now()
	}
	return l.acquireGlobal(c, f, n, now)
}

// takeConn takes n bytes from f's own bucket if it covers them.
func (l *limiter) takeConn(f *flow, n int, now time.Time) bool {
	f.refill(now, l.connRate, l.connBurst)
	if f.tokens < min(float64(n), l.connBurst)-slack {
		return false
	}
	f.tokens -= float64(n)
	return true
}

// acquireConn waits for f's own bucket to cover n bytes and takes them.
func (l *limiter) acquireConn(c *Conn, f *flow, n int) error {
	for {
		l.mu.Lock()
		if l.connRate == 0 || l.takeConn(f, n, time.Now()) {
			l.mu.Unlock()
			return nil
		}
		wait := delayFor(min(float64(n), l.connBurst)-f.tokens, l.connRate)
		l.mu.Unlock()
		// A new limit pokes f, and the loop starts over with it.
		if err := c.sleep(f, wait); err != nil {
			return err
		}
	}
}

// acquireGlobal waits for f's turn at the global bucket. Called with l.mu
// held, which it releases.
func (l *limiter) acquireGlobal(c *Conn, f *flow, n int, now time.Time) error {
	if l.rate == 0 {
		l.mu.Unlock()
		return nil
	}
	f.start = max(l.vtime, f.finish)
	f.finish = f.start + int64(n)
	f.n = n
	if len(l.queue) == 0 {
		l.refill(now)
		if l.tokens >= min(float64(n), l.burst)-slack {
			l.tokens -= float64(n)
			l.vtime = max(l.vtime, f.start)
			l.mu.Unlock()
			return nil
		}
	}
	l.seq++
	f.seq = l.seq
	f.qidx = len(l.queue)
	l.queue = append(l.queue, f)
	l.dispatch(now)
	if f.qidx < 0 {
		// Served at once: the grant is already in f.ready.
		<-f.waitChans().ready
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	w := f.waitChans()
	for {
		if c.isClosed.Load() {
			f.disarm()
			return l.abort(f, net.ErrClosed)
		}
		var expire <-chan time.Time
		if dl := f.deadline.Load(); dl != 0 {
			left := time.Until(time.Unix(0, dl))
			if left <= 0 {
				return l.abort(f, os.ErrDeadlineExceeded)
			}
			expire = f.arm(left)
		}
		select {
		case <-w.ready:
			f.disarm()
			return nil
		case <-w.wake:
			// Deadline or limits changed, or closed: look again.
		case <-expire:
		}
	}
}

// abort withdraws f from the queue and returns err, unless f was served
// meanwhile: then the grant is used and the IO itself reports the closed
// connection or the passed deadline.
func (l *limiter) abort(f *flow, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.qidx < 0 {
		<-f.waitChans().ready
		return nil
	}
	l.remove(f)
	// f may have been the first waiter, the one the timer was set for.
	l.dispatch(time.Now())
	return err
}

// dispatch serves the waiters the bucket covers, lowest start tag first,
// and sets the timer for the first one it does not cover. Called with
// l.mu held whenever the queue, the rate or the time may allow a grant.
func (l *limiter) dispatch(now time.Time) {
	if l.rate == 0 {
		for len(l.queue) > 0 {
			l.grant(l.queue[len(l.queue)-1])
		}
		return
	}
	l.refill(now)
	for len(l.queue) > 0 {
		h := l.queue[0]
		for _, f := range l.queue[1:] {
			if f.start < h.start || f.start == h.start && f.seq < h.seq {
				h = f
			}
		}
		need := min(float64(h.n), l.burst)
		if l.tokens < need-slack {
			at := now.Add(delayFor(need-l.tokens, l.rate))
			if !l.armed || at.Before(l.armedAt) {
				d := at.Sub(now)
				if l.timer == nil || !l.timer.Reset(d) {
					l.timer = ownedtimer.New(l.onTimer)
					l.timer.Reset(d)
				}
				l.armed, l.armedAt = true, at
			}
			return
		}
		l.tokens -= float64(h.n)
		l.vtime = max(l.vtime, h.start)
		l.grant(h)
	}
}

// onTimer runs when the bucket should cover the first waiter. A run that
// finds nothing to do (the waiter left, or a later Reset superseded it) is
// harmless; a run always re-arms the timer if a waiter remains.
func (l *limiter) onTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	l.dispatch(time.Now())
}

// closeTimer closes the timer, waiting for a call under way; l.mu must
// not be held (the call takes it).
func (l *limiter) closeTimer() {
	l.mu.Lock()
	t := l.timer
	l.armed = false
	l.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

func (l *limiter) grant(f *flow) {
	l.remove(f)
	f.waitChans().ready <- struct{}{} // never blocks: one request per flow at a time
}

func (l *limiter) remove(f *flow) {
	last := len(l.queue) - 1
	moved := l.queue[last]
	l.queue[f.qidx] = moved
	moved.qidx = f.qidx
	l.queue[last] = nil
	l.queue = l.queue[:last]
	f.qidx = -1
}
