package p2ppool

import (
	"context"
	"sync"
	"time"

	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
)

// lifecycle owns the pool's life: its context, the goroutines it starts
// and the calls in flight that may start some, and what Close releases
// once they have all exited. Its fields are immutable after newCore or
// synchronised on their own (the WaitGroup, the Onces, the goroutine
// registry's lock); goLocked's caller holds the pool lock (locks.go), so
// that no goroutine starts after Close has begun.
type lifecycle struct {
	// Immutable after newLifecycle.
	pool   *poolMutex
	sched  *sched.Scheduler // closed by finish
	events *eventHub        // closed by finish
	// ctx is cancelled by Close, with ErrPoolClosed for cause: it aborts
	// handshakes and dials, and a handshake under it says why with no
	// watcher of its own (handshakeContext).
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when Close or Shutdown begins (registry.beginCloseLocked)

	// wg counts every goroutine the pool started, every call in flight
	// that may start one (handshakes), and every running connection until
	// its teardown is over, whether its reader runs or is parked
	// (conn.read); Close waits for it, unless it is called on one of them
	// (see reentry.go).
	wg sync.WaitGroup
	// gs registers the goroutines wg counts, and those they wait for, so
	// that a call made from a callback knows whether it runs on one.
	gs goroutines
	// finishOnce releases the scheduler and the watchers once; a Close
	// called from a callback leaves that to the finisher goroutine,
	// started once and closed when it exits.
	finishOnce, finisherOnce sync.Once
	finisher                 chan struct{}
}

func newLifecycle(pool *poolMutex, sch *sched.Scheduler, events *eventHub) *lifecycle {
	l := &lifecycle{pool: pool, sched: sch, events: events, done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	return l
}

// isClosed reports whether Close or Shutdown has begun.
func (l *lifecycle) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// goLocked starts f on a goroutine owned by the pool, registered with
// role (reentry.go). The pool lock must be held and the pool open
// (registry.closed false): Close sets closed under it before it waits for
// wg.
func (l *lifecycle) goLocked(role poolGoroutine, f func()) {
	l.pool.assertHeld()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.track(role).untrack()
		f()
	}()
}

// poolTimer runs a function on a goroutine owned by the pool when it
// fires, and costs no goroutine while it waits: an idle pool runs none
// (the housekeeping and the maintenance are poolTimers). Its state is
// guarded by the pool lock. The goroutine is counted in the pool's wait
// group from the moment the timer fires: the one that time.AfterFunc
// starts either joins the group under the pool lock while the pool is
// open, or, once Close has begun, was adopted by stopLocked, which
// counted it because it could no longer stop it; so Close waits for
// every such goroutine, and none starts after it returns.
type poolTimer struct {
	t *time.Timer
	// armed: reset and its function not yet begun (the goroutine has not
	// yet taken the pool lock). The timer is reset only when it is not
	// armed, so that every arming makes exactly one call at most.
	armed bool
}

// newTimer returns a stopped poolTimer that runs f, registered with role,
// each time it fires while the pool is open.
func (l *lifecycle) newTimer(role poolGoroutine, f func()) *poolTimer {
	pt := new(poolTimer)
	pt.t = time.AfterFunc(time.Hour, func() {
		testHookTimerFired()
		l.pool.Lock()
		pt.armed = false
		if l.isClosed() {
			// Adopted by stopLocked: counted for us in l.wg.
			l.pool.Unlock()
			l.wg.Done()
			return
		}
		l.wg.Add(1)
		l.pool.Unlock()
		defer l.wg.Done()
		defer l.track(role).untrack()
		f()
	})
	pt.t.Stop()
	return pt
}

// testHookTimerFired runs when a poolTimer's goroutine starts, before it
// takes the pool lock (tests make Close race with it).
var testHookTimerFired = func() {}

// resetLocked makes the timer fire after d, unless it is armed and its
// call can no longer be stopped: that call then comes earlier, in place
// of this one. The pool lock must be held and the pool open.
func (pt *poolTimer) resetLocked(d time.Duration) {
	if pt.armed && !pt.t.Stop() {
		return
	}
	pt.t.Reset(d)
	pt.armed = true
}

// cancelLocked stops the timer if its call has not yet started. A call
// it is too late to stop still comes. The pool lock must be held.
func (pt *poolTimer) cancelLocked() {
	if pt.armed && pt.t.Stop() {
		pt.armed = false
	}
}

// stopLocked stops the timer for good as Close begins, after the pool is
// marked closed; a call it is too late to stop is counted in l.wg, and
// ends as soon as it sees the pool closed. The pool lock must be held.
func (pt *poolTimer) stopLocked(l *lifecycle) {
	if pt.armed && !pt.t.Stop() {
		l.wg.Add(1)
	}
	pt.armed = false
}

// handshakeContext bounds a handshake by ctx, the timeout and the pool's
// life; the timeout's cause is ErrTimeout, the pool's close's
// ErrPoolClosed. A ctx that is the pool's own (maintenance, swaps) needs
// no watcher for the pool's close: one context, not three.
func (l *lifecycle) handshakeContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if ctx == l.ctx {
		return context.WithTimeoutCause(ctx, timeout, socket.ErrTimeout)
	}
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, socket.ErrTimeout)
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.ctx, func() { cancel(ErrPoolClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
		cancelTimeout()
	}
}

// track registers the calling goroutine as one of the pool's, counted in
// l.wg or waited for by one, with role; call the result as it stops.
func (l *lifecycle) track(role poolGoroutine) registration { return l.gs.track(role, false) }

// leave ends a call begun by enter.
func (l *lifecycle) leave(reg registration) {
	reg.untrack()
	l.wg.Done()
}

// finish releases what the pool holds once its goroutines have exited: the
// scheduler and the watchers. Idempotent.
func (l *lifecycle) finish() {
	l.finishOnce.Do(func() {
		l.sched.Close()
		l.events.close()
	})
}

// finishLater is close called on one of the pool's goroutines: it cannot
// wait for l.wg, which counts its caller, so a goroutine does, and
// finishes once the callers have returned from their callbacks and every
// goroutine of the pool has exited. A Close or Shutdown called elsewhere
// waits for that goroutine too.
func (l *lifecycle) finishLater() {
	l.finisherOnce.Do(func() {
		l.finisher = make(chan struct{})
		go func() {
			defer close(l.finisher)
			l.wg.Wait()
			l.finish()
		}()
	})
}

// waitFinisher waits for the goroutine finishLater started, if any. l.wg
// must have reached zero: every finishLater call came before.
func (l *lifecycle) waitFinisher() {
	l.finisherOnce.Do(func() {}) // none may start from now on
	if l.finisher != nil {
		<-l.finisher
	}
}

// waitConns waits, for Shutdown, until each of conns has ended, or is held
// by a goroutine of its own that waits in a Shutdown called from a
// callback (it ends only once that returns), or until ctx ends.
func (l *lifecycle) waitConns(ctx context.Context, conns []*conn) error {
	for _, c := range conns {
		for {
			held, changed := l.gs.isHeld(c)
			if held {
				break
			}
			select {
			case <-c.done:
			case <-changed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
	}
	return nil
}
