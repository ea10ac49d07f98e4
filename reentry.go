package p2ppool

import (
	"github.com/p2ppool/p2ppool/internal/goid"
)

// Re-entrancy: what happens when a callback the pool runs (a Conns().OnNew
// hook, a PeerMetaConfig or ConnMetaConfig function, an Encoding, Metrics,
// the Logger's handler, the Dialer) calls the pool back.
//
// Most calls only take the pool's lock for a moment, and no callback runs
// under it, so they work from anywhere. The calls that wait are the
// problem: Close waits for every goroutine the pool counts (lifecycle.wg), and
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
// in lifecycle.wg (Serve, Connect, Accept), not per message: the per-message
// path pays nothing. A call that waits looks its goroutine up, a map
// lookup, only when it is made.

// poolGoroutine is what the registry knows of one of the pool's
// goroutines.
type poolGoroutine struct {
	// depth counts the registrations of a goroutine lifecycle.wg counts, or
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
	mu orderedMutex[atGoroutines]
	// Guarded by mu. The records are values, and track returns a value,
	// so that a registration allocates nothing (a record and an untrack
	// closure each were 15 of a connect's 195 allocations).
	byID map[uint64]poolGoroutine
	// held are the connections one of whose goroutines waits in a
	// Shutdown called from a callback: they cannot end before it
	// returns, so no Shutdown waits for them. heldChanged is closed (and
	// replaced) whenever one is added.
	held        map[*conn]bool
	heldChanged chan struct{}
}

// registration is one track, undone by its untrack.
type registration struct {
	r      *goroutines
	id     uint64
	saving bool
}

// track registers the calling goroutine with role (its conn, writer and
// maint), as one counted in lifecycle.wg or waited for by one, or, with
// saving, as saving the peers file; untrack the result to undo it.
func (r *goroutines) track(role poolGoroutine, saving bool) registration {
	id := uint64(goid.Token())
	r.mu.Lock()
	if r.byID == nil {
		r.byID = make(map[uint64]poolGoroutine)
	}
	g := r.byID[id]
	if saving {
		g.saving++
	} else {
		g.depth++
	}
	if g.conn == nil && role.conn != nil {
		g.conn, g.writer = role.conn, role.writer
	}
	g.maint = g.maint || role.maint
	r.byID[id] = g
	r.mu.Unlock()
	return registration{r: r, id: id, saving: saving}
}

// untrack undoes the track that returned reg, on the same goroutine.
func (reg registration) untrack() {
	r := reg.r
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.byID[reg.id]
	if reg.saving {
		g.saving--
	} else {
		g.depth--
	}
	if g.depth == 0 && g.saving == 0 {
		delete(r.byID, reg.id)
	} else {
		r.byID[reg.id] = g
	}
}

// self returns the registry's record of the calling goroutine, if it is
// one of the pool's.
func (r *goroutines) self() (poolGoroutine, bool) {
	id := uint64(goid.Token())
	r.mu.Lock()
	defer r.mu.Unlock()
	if g, ok := r.byID[id]; ok {
		return g, true
	}
	return poolGoroutine{}, false
}

// inWaitGroup reports whether the calling goroutine is counted in
// lifecycle.wg, or is one a counted goroutine waits for: whether Close, called
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
