package p2ppooltest

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a Conn end. It is armed by
// time.AfterFunc, so that under testing/synctest it fires on the bubble's
// clock; when it passes, or is moved into the past, it wakes the waiters
// of its pipe (the one the direction's calls wait on), so that a blocked
// Read or Write waits on one channel only, the pipe's.
type deadline struct {
	// Immutable after creation.
	p    *pipe // whose waiters a passing deadline wakes
	read bool  // a read deadline: its changes may end a Read's wait

	mu sync.Mutex
	// Guarded by mu.
	timer   *time.Timer
	gen     uint64 // bumped by every set: a timer of an older set does nothing
	expired bool   // the deadline has passed
}

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop() // if it already fired, its callback sees gen changed
		d.timer = nil
	}
	d.expired = false
	if !t.IsZero() {
		if dur := time.Until(t); dur <= 0 {
			d.expired = true
		} else {
			gen := d.gen
			d.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		}
	}
	d.mu.Unlock()
	// Wake the waiters whatever changed: one that waits past a deadline
	// just moved into the past must see it, the others look again.
	d.wake()
}

// fire marks the deadline of set number gen passed, unless set since.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	hit := d.gen == gen
	if hit {
		d.expired = true
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
	if d.read {
		d.p.readableLocked()
	} else {
		d.p.signalLocked()
	}
	d.p.mu.Unlock()
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop releases the timer, if any: the end is closed.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
