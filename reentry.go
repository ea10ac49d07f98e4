package p2ppool

import (
	"context"
	"sync"

	"github.com/p2ppool/p2ppool/internal/goid"
)

// Re-entrancy: what happens when a callback the pool runs (a Conns().OnNew
// hook, a PeerMetaConfig or ConnMetaConfig function, an Encoding, Metrics,
// the Logger's handler, the Dialer) calls the pool back.
//
// Most calls only take the pool's lock for a moment, and no callback runs
// under it, so they work from anywhere. The calls that wait are the
// problem: Close waits for every goroutine the pool counts (core.wg), and
// the callback's own goroutine is one of them, or is one a counted
// goroutine waits for (a connection's writer, which its reader waits for;
// a maintenance dial, which the maintenance run waits for). Those calls
// ask the registry below whether the calling goroutine is one of this
// pool's and, if so, do not wait for what cannot finish before they
// return.
//
// The registry is keyed by goroutine (internal/goid's token: the runtime's
// record of the goroutine, read in one instruction on amd64 and arm64;
// parsing runtime.Stack's "goroutine N" header instead cost a traceback
// and an allocation, ~10 times per connection, 13% of the CPU of a
// connect). A token may be given to a new goroutine once its goroutine has
// exited, so every registration is undone (the deferred untrack) before
// its goroutine exits. A goroutine is registered when it starts (goLocked,
// the connections' readers and writers) or when it enters a call counted
// in core.wg (Serve, Connect, Accept), not per message: the per-message
// path pays nothing. A call that waits looks its goroutine up, a map
// lookup, only when it is made.

// poolGoroutine is what the registry knows of one of the pool's
// goroutines.
type poolGoroutine struct {
	// depth counts the registrations of a goroutine core.wg counts, or
	// that a counted one waits for (nested: a hook that calls Connect
	// registers the same goroutine again); saving counts the peers-file
	// saves in progress on it (a save calls PeerMetaConfig.MarshalJSON).
	// A goroutine is in the registry while either is positive.
	depth, saving int
	// conn is the connection whose reader or writer this goroutine is
	// (writer tells which); maint is set on the maintenance worker and
	// its dials, which a maintenance run waits for. Set by the outermost
	// registration that knows them; never cleared while registered.
	conn   *conn
	writer bool
	maint  bool
}

// goroutines is the registry. Its lock is a leaf: nothing else is taken
// under it, and no callback runs under it.
type goroutines struct {
	mu sync.Mutex
	// Guarded by mu.
	byID map[uint64]*poolGoroutine
	// held are the connections one of whose goroutines waits in a
	// Shutdown called from a callback: they cannot end before it
	// returns, so no Shutdown waits for them. heldChanged is closed (and
	// replaced) whenever one is added.
	held        map[*conn]bool
	heldChanged chan struct{}
}

// track registers the calling goroutine with role (its conn, writer and
// maint), as one counted in core.wg or waited for by one, or, with
// saving, as saving the peers file; it returns the call that undoes it.
func (r *goroutines) track(role poolGoroutine, saving bool) (untrack func()) {
	id := uint64(goid.Token())
	r.mu.Lock()
	if r.byID == nil {
		r.byID = make(map[uint64]*poolGoroutine)
	}
	g := r.byID[id]
	if g == nil {
		g = &poolGoroutine{}
		r.byID[id] = g
	}
	if saving {
		g.saving++
	} else {
		g.depth++
	}
	if g.conn == nil && role.conn != nil {
		g.conn, g.writer = role.conn, role.writer
	}
	g.maint = g.maint || role.maint
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if saving {
			g.saving--
		} else {
			g.depth--
		}
		if g.depth == 0 && g.saving == 0 {
			delete(r.byID, id)
		}
	}
}

// self returns the registry's record of the calling goroutine, if it is
// one of the pool's.
func (r *goroutines) self() (poolGoroutine, bool) {
	id := uint64(goid.Token())
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.byID[id]; g != nil {
		return *g, true
	}
	return poolGoroutine{}, false
}

// inWaitGroup reports whether the calling goroutine is counted in
// core.wg, or is one a counted goroutine waits for: whether Close, called
// on it, would wait for itself.
func (g poolGoroutine) inWaitGroup() bool { return g.depth > 0 }

// hold records that a goroutine of c waits in a Shutdown called from a
// callback.
func (r *goroutines) hold(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = make(map[*conn]bool)
	}
	if !r.held[c] {
		r.held[c] = true
		if r.heldChanged != nil {
			close(r.heldChanged)
			r.heldChanged = nil
		}
	}
}

// isHeld reports whether c is held, and a channel closed when another
// connection is.
func (r *goroutines) isHeld(c *conn) (bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[c] {
		return true, nil
	}
	if r.heldChanged == nil {
		r.heldChanged = make(chan struct{})
	}
	return false, r.heldChanged
}

// track registers the calling goroutine as one of the pool's, counted in
// p.wg or waited for by one, with role; call the result as it stops.
func (p *core) track(role poolGoroutine) (untrack func()) { return p.gs.track(role, false) }

// leave ends a call begun by enter.
func (p *core) leave(untrack func()) {
	untrack()
	p.wg.Done()
}

// finish releases what the pool holds once its goroutines have exited: the
// scheduler and the watchers. Idempotent.
func (p *core) finish() {
	p.finishOnce.Do(func() {
		p.sched.Close()
		p.events.close()
	})
}

// finishLater is close called on one of the pool's goroutines: it cannot
// wait for p.wg, which counts its caller, so a goroutine does, and
// finishes once the callers have returned from their callbacks and every
// goroutine of the pool has exited. A Close or Shutdown called elsewhere
// waits for that goroutine too.
func (p *core) finishLater() {
	p.finisherOnce.Do(func() {
		p.finisher = make(chan struct{})
		go func() {
			defer close(p.finisher)
			p.wg.Wait()
			p.finish()
		}()
	})
}

// waitFinisher waits for the goroutine finishLater started, if any. p.wg
// must have reached zero: every finishLater call came before.
func (p *core) waitFinisher() {
	p.finisherOnce.Do(func() {}) // none may start from now on
	if p.finisher != nil {
		<-p.finisher
	}
}

// waitConns waits, for Shutdown, until each of conns has ended, or is held
// by a goroutine of its own that waits in a Shutdown called from a
// callback (it ends only once that returns), or until ctx ends.
func (p *core) waitConns(ctx context.Context, conns []*conn) error {
	for _, c := range conns {
		for {
			held, changed := p.gs.isHeld(c)
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
