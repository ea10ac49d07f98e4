package ownedtimer

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const long = 10 * time.Second // a bound that a passing test never reaches

func recv(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(long):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// notYet fails with msg if c is already closed.
func notYet(t *testing.T, c <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-c:
		t.Fatal(msg)
	default:
	}
}

// goClose calls tm.Close on another goroutine; the channel is closed
// when it returns.
func goClose(tm *Timer) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		tm.Close()
		close(closed)
	}()
	return closed
}

// TestFiresAndRearms: a Reset timer calls f once per Reset; a Stop before
// it fires prevents the call; f may Reset its own timer.
func TestFiresAndRearms(t *testing.T) {
	calls := make(chan struct{}, 4)
	var n atomic.Int32
	var tm *Timer
	tm = New(func() {
		if n.Add(1) == 1 {
			assert.True(t, tm.Reset(0), "a Reset from the call")
		}
		calls <- struct{}{}
	})
	defer tm.Close()
	assert.False(t, tm.Stop(), "a new timer is stopped")
	require.True(t, tm.Reset(0))
	recv(t, calls, "the first call")
	recv(t, calls, "the call the first one armed")
	assert.EqualValues(t, 2, n.Load())

	require.True(t, tm.Reset(time.Hour))
	assert.True(t, tm.Stop(), "stopped before it fired")
	tm.Close()
	assert.EqualValues(t, 2, n.Load())
	assert.False(t, tm.Reset(0), "no Reset after Close")
}

// TestCloseAdoptsAFiredCall: a call that fired before Close, its goroutine
// not yet at the timer's lock, is waited for by Close and does not call f.
// A time.AfterFunc stopped at that moment leaves the goroutine running.
func TestCloseAdoptsAFiredCall(t *testing.T) {
	fired, release, adopted := make(chan struct{}), make(chan struct{}), make(chan struct{})
	testHookFired = func() {
		close(fired)
		<-release
	}
	testHookAdopted = func(n int) {
		if n == 1 {
			close(adopted)
		}
	}
	t.Cleanup(func() { testHookFired, testHookAdopted = func() {}, func(int) {} })
	var calls atomic.Int32
	tm := New(func() { calls.Add(1) })
	require.True(t, tm.Reset(0))
	recv(t, fired, "the timer to fire")

	closed := goClose(tm)
	select {
	case <-adopted:
	case <-closed:
		close(release)
		t.Fatal("Close returned while a call that fired before it had not run")
	case <-time.After(long):
		t.Fatal("Close neither adopted the fired call nor returned")
	}
	notYet(t, closed, "Close returned before the adopted call ended")
	close(release)
	recv(t, closed, "Close")
	assert.Zero(t, calls.Load(), "an adopted call calls nothing")
}

// TestCloseWaitsForARunningCall: Close returns only once the call running
// f has returned.
func TestCloseWaitsForARunningCall(t *testing.T) {
	running, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{})
	testHookWaitRunning = func() { close(waiting) }
	t.Cleanup(func() { testHookWaitRunning = func() {} })
	var ended atomic.Bool
	tm := New(func() {
		close(running)
		<-release
		ended.Store(true)
	})
	require.True(t, tm.Reset(0))
	recv(t, running, "the call to run")
	closed := goClose(tm)
	// Close cannot return before release: the call still runs. Release
	// it only once Close waits for it.
	recv(t, waiting, "Close to wait for the running call")
	notYet(t, closed, "Close returned while the call was running")
	close(release)
	recv(t, closed, "Close")
	assert.True(t, ended.Load(), "Close returned before the call ended")
}
