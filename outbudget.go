package p2ppool

import (
	"context"
	"errors"
	"sync/atomic"
)

// outBudget is the pool-wide bound on outgoing bytes held
// (Config.Budgets.TotalOutgoingQueueSize), beside the incoming one: the bytes
// queued on every connection's outgoing queue and those its writer has
// taken and not yet written, past each connection's own floor
// (outFloor). It is the same FIFO semaphore as the incoming budget, so a
// large write waiting for room is not starved by small ones, plus the
// counters of what it refused. Safe for concurrent use.
type outBudget struct {
	sem *inBudget
	// waits counts the Writes that waited for the budget, drops the
	// messages dropped because of it (WriteNow, WriteAll, the pool's own).
	waits, drops atomic.Uint64
}

// outFloor is what each connection may hold of outgoing bytes outside the
// pool's budget: the first bytes queued on a connection (or taken by its
// writer and not yet written) never wait for the budget, so peers that
// never read and hold the whole budget cannot stop another connection
// from sending its small messages; and a connection whose peer keeps up
// rarely touches the pool-wide semaphore. A burst's small first arena
// and most of a full one (arenaFirst, arenaSize).
const outFloor = 64 << 10

func newOutBudget(total int) *outBudget {
	return &outBudget{sem: newInBudget(total)}
}

// held is the part of the budget in use.
func (b *outBudget) held() int64 { return b.sem.held.Load() }

// wait takes n bytes of the budget, waiting for them until ctx or life
// ends (life is the connection's: a Write waiting for the budget must not
// outlive its connection; nil for none). It returns ctx's error if ctx
// ended, errLifeEnded if life did.
func (b *outBudget) wait(ctx, life context.Context, n int64) error {
	b.waits.Add(1)
	// The slow path: the budget is spent, and only this wait costs a
	// context.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if life != nil {
		stop := context.AfterFunc(life, cancel)
		defer stop()
	}
	if err := b.sem.wait(wctx, n); err != nil { // nothing to reclaim: no ended list here
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errLifeEnded
	}
	return nil
}

// errLifeEnded: the connection ended while a Write waited for the
// budget; the caller reports why it ended.
var errLifeEnded = errors.New("p2ppool: connection ended")

// release gives n bytes back.
func (b *outBudget) release(n int64) { b.sem.release(n) }

// sharedOut is the one copy of a broadcast message larger than
// smallMessage, queued on many connections: the pool-wide budget counts
// its bytes once, from the broadcast until the last writer is done with
// them (each connection's own bound counts them as its own).
type sharedOut struct {
	budget  *outBudget
	charged int64
	refs    atomic.Int32
}

// newSharedOut charges a broadcast of n bytes to b, if it has room now
// (a broadcast never waits); the caller holds the one reference.
func newSharedOut(b *outBudget, n int) (*sharedOut, bool) {
	charge := min(int64(n), b.sem.total) // one oversized message still goes
	if !b.sem.tryAcquire(charge) {
		return nil, false
	}
	s := &sharedOut{budget: b, charged: charge}
	s.refs.Store(1)
	return s, true
}

// ref takes another reference, for one more queue.
func (s *sharedOut) ref() { s.refs.Add(1) }

// unref drops a reference; the last gives the bytes back to the budget.
func (s *sharedOut) unref() {
	if s.refs.Add(-1) == 0 {
		s.budget.release(s.charged)
	}
}
