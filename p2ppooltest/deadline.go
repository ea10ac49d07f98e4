package p2ppooltest

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a Conn end, kept as net.Pipe
// keeps it: a channel closed when the deadline passes, armed by
// time.AfterFunc so that under testing/synctest it fires on the bubble's
// clock and a wait on it is durably blocking.
type deadline struct {
	mu sync.Mutex
	// Guarded by mu.
	timer *time.Timer
	gen   uint64 // bumped by every set: a timer of an older set does nothing
	// expired is closed when the deadline passes. It is replaced only once
	// closed, so that a wait already under way sees a deadline moved into
	// the past.
	expired chan struct{}
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop() // if it already fired, its callback sees gen changed
		d.timer = nil
	}
	select {
	case <-d.expired:
		d.expired = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.expired)
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			close(d.expired)
		}
	})
}

// wait returns the channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	select {
	case <-d.wait():
		return true
	default:
		return false
	}
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
