package p2ppooltest

import (
	"sync"
	"time"

	"github.com/p2ppool/p2ppool/internal/ownedtimer"
)

// deadline is one direction's deadline of a Conn end. It is armed by a
// timer of the time package's, so that under testing/synctest it fires on
// the bubble's clock; when it passes, or is moved into the past, it wakes
// the waiters of its pipe (the one the direction's calls wait on), so
// that a blocked Read or Write waits on one channel only, the pipe's.
// Closing the end closes the timer and waits for a call under way
// (ownedtimer), so that none runs once the end's Close has returned.
type deadline struct {
	// Immutable after creation.
	p *pipe // whose waiters a passing deadline wakes

	mu sync.Mutex
	// Guarded by mu.
	timer   *ownedtimer.Timer // made by the first deadline in the future
	at      time.Time         // the deadline; zero for none
	expired bool              // the deadline has passed
	stopped bool              // the end is closed
}

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	if d.timer != nil {
		d.timer.Stop() // a call that fired already finds at moved
	}
	d.at, d.expired = t, false
	if !t.IsZero() {
		if dur := time.Until(t); dur <= 0 {
			d.expired = true
		} else {
			if d.timer == nil {
				d.timer = ownedtimer.New(d.fire)
			}
			d.timer.Reset(dur)
		}
	}
	d.mu.Unlock()
	// Wake the waiters whatever changed: one that waits past a deadline
	// just moved into the past must see it, the others look again.
	d.wake()
}

// fire marks the deadline passed, if it has. A call of an earlier
// setting that fired too late to be stopped finds the deadline moved; one
// that comes early by the wall clock (a deadline without a monotonic
// reading, and the clock set back) re-arms for the rest.
func (d *deadline) fire() {
	d.mu.Lock()
	hit := false
	if !d.at.IsZero() && !d.expired && !d.stopped {
		if rest := time.Until(d.at); rest > 0 {
			d.timer.Reset(rest)
		} else {
			d.expired, hit = true, true
		}
	}
	d.mu.Unlock()
	if hit {
		d.wake()
	}
}

// wake signals the pipe's waiters. It takes the pipe's lock after the
// deadline's is released: a waiter checks passed under the pipe's lock
// (lock order: pipe, then deadline), so it either sees the deadline passed
// or holds the channel this signal closes.
func (d *deadline) wake() {
	d.p.mu.Lock()
	d.p.signalLocked()
	d.p.mu.Unlock()
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop closes the timer, if any, and waits for a call under way: the end
// is closed. The caller must hold neither the deadline's lock nor the
// pipe's (the call takes both).
func (d *deadline) stop() {
	d.mu.Lock()
	d.stopped = true
	t := d.timer
	d.mu.Unlock()
	if t != nil {
		t.Close()
	}
}
