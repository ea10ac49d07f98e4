//go:build p2ppool_lockcheck

package p2ppool

import (
	"net/netip"
	"strings"
	"testing"
)

// mustPanic runs f and returns what it panicked with, failing the test
// if it did not panic.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg, _ = r.(string)
	}()
	f()
	return ""
}

// TestLockOrderChecked: under p2ppool_lockcheck, taking a lock of an
// earlier rank (or a second of the same rank) while holding one of
// locks.go panics before it can deadlock; taking them in order does not.
func TestLockOrderChecked(t *testing.T) {
	var pool poolMutex
	var adv orderedMutex[atAdvertise]
	var hub1, hub2 orderedMutex[atEvents]

	// In order: the advertise cache, the pool lock, an event hub.
	adv.Lock()
	pool.Lock()
	hub1.Lock()
	hub1.Unlock()
	pool.Unlock()
	adv.Unlock()

	// Out of order: the advertise cache under the pool lock (a rebuild
	// started from under the pool lock would deadlock against one that
	// holds the cache's lock and waits for the pool's).
	pool.Lock()
	msg := mustPanic(t, adv.Lock)
	pool.Unlock()
	if !strings.Contains(msg, "lock order violated") || !strings.Contains(msg, "advertise cache lock") || !strings.Contains(msg, "pool lock") {
		t.Errorf("panic %q does not name the two locks", msg)
	}
	// The refused lock was not taken.
	adv.Lock()
	adv.Unlock()

	// Two of the same rank.
	hub1.Lock()
	mustPanic(t, hub2.Lock)
	hub1.Unlock()

	// A lock released on another goroutine is forgotten for its taker.
	pool.Lock()
	done := make(chan struct{})
	go func() { pool.Unlock(); close(done) }()
	<-done
	adv.Lock()
	adv.Unlock()
}

// TestAssertHeld: assertHeld panics unless the calling goroutine holds
// the lock, which is how the ...Locked methods check their callers.
func TestAssertHeld(t *testing.T) {
	var pool poolMutex
	msg := mustPanic(t, pool.assertHeld)
	if !strings.Contains(msg, "pool lock must be held") {
		t.Errorf("panic %q", msg)
	}
	pool.Lock()
	pool.assertHeld()
	held := make(chan string)
	go func() {
		defer func() { r, _ := recover().(string); held <- r }()
		pool.assertHeld() // held, but by another goroutine
	}()
	if r := <-held; r == "" {
		t.Error("assertHeld passed on a goroutine that does not hold the lock")
	}
	pool.Unlock()

	// A Locked method of a part called without the lock.
	var tab tables
	tab.mu = &pool
	mustPanic(t, func() { tab.registerPointLocked(netip.MustParseAddrPort("192.0.2.1:9732")) })
}
