// Package ownedtimer is time.AfterFunc with an owner that can wait for its
// calls. A time.AfterFunc call runs on a goroutine of its own that the
// runtime starts when the timer fires; Stop cannot stop a call that has
// fired, and nothing waits for it, so a component that stops its timer
// as it closes may still have that goroutine running after its Close has
// returned. A Timer's Close stops the timer for good and waits for every
// call that fired before it: the one it was too late to stop (counted as
// the runtime schedules it, adopted by Close, and returning at once) and
// the one running.
package ownedtimer

import (
	"sync"
	"time"
)

// Timer calls a function on its own goroutine when it fires, as
// time.AfterFunc does; see the package documentation. The zero value is
// not usable: make one with New. Its methods are safe for concurrent use,
// and may be called from the function itself, except Close.
type Timer struct {
	f func()

	mu sync.Mutex
	// Guarded by mu.
	t *time.Timer
	// pending counts the calls scheduled by the runtime and not yet
	// begun: the timer's pending call, and calls that fired and wait
	// for mu.
	pending int
	// running counts the calls running f.
	running int
	closed  bool
	// idle is closed by the last call to stop running once Close waits
	// for it; nil otherwise.
	idle chan struct{}
	// late counts the calls Close was too late to stop.
	late sync.WaitGroup
}

// New returns a stopped Timer that calls f each time it fires.
func New(f func()) *Timer {
	t := &Timer{f: f}
	t.t = time.AfterFunc(time.Hour, t.fire)
	t.t.Stop()
	return t
}

// Reset makes the timer fire after d, in place of a pending call. It
// reports whether it did: after Close it does nothing.
func (t *Timer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if !t.t.Reset(d) {
		t.pending++ // a new call; one that fired already is counted
	}
	return true
}

// Stop prevents the pending call, if any, and reports whether it did. A
// call that has fired still runs.
func (t *Timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopLocked()
}

func (t *Timer) stopLocked() bool {
	if t.t.Stop() {
		t.pending--
		return true
	}
	return false
}

// Close stops the timer for good and returns once no call is running
// and none that fired before it is still to begin. Calling it from the
// timer's function would wait for that very call: it must not. Close is
// idempotent.
func (t *Timer) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.stopLocked()
		t.late.Add(t.pending) // each of them sees closed and returns
		testHookAdopted(t.pending)
	}
	var idle chan struct{}
	if t.running > 0 {
		if t.idle == nil {
			t.idle = make(chan struct{})
		}
		idle = t.idle
	}
	t.mu.Unlock()
	if idle != nil {
		testHookWaitRunning()
		<-idle
	}
	t.late.Wait()
}

// fire is the runtime's call.
func (t *Timer) fire() {
	testHookFired()
	t.mu.Lock()
	t.pending--
	if t.closed {
		t.mu.Unlock()
		t.late.Done()
		return
	}
	t.running++
	t.mu.Unlock()
	defer t.done()
	t.f()
}

// done ends a call of f.
func (t *Timer) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running--
	if t.running == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// Test hooks: testHookFired runs as a call's goroutine starts, before it
// takes the timer's lock; testHookAdopted when Close counts the calls it
// was too late to stop; testHookWaitRunning when Close begins to wait for
// a running call.
var (
	testHookFired       = func() {}
	testHookAdopted     = func(int) {}
	testHookWaitRunning = func() {}
)
