package p2ppool

import "sync"

// Lock order. This is the one place it is written; comments elsewhere
// point here.
//
// A goroutine that holds a lock of this list takes only locks further
// down it, never one above it or a second one of the same rank:
//
//  1. core.peersFile.mu (lockSave): serialises peers-file writes; held
//     across the file's I/O and nothing else is taken under it.
//  2. core.adv.mu (lockAdvertise): serialises rebuilds of the cached
//     Advertise; the rebuild takes the pool lock under it.
//  3. core.mu (lockPool), the pool lock: the tables, the registry,
//     admission, the dialer, the ACL, the maintenance's run counters and
//     the swap times, shared by those parts because one admission
//     decision reads and writes them all at once (octez decides it in one
//     Lwt critical section). Never held across network I/O, a user
//     callback or a log call; methods named ...Locked assert it.
//  4. conn.ctl.mu (lockConnBudgets), a connection's token buckets: taken
//     under the pool lock when a peer's budgets are saved.
//  5. eventHub.mu (lockEvents): events are published under the pool lock,
//     so that they come after the table change they report and in its
//     order.
//  6. Watcher.mu (lockWatcher): taken by the hub under its own lock to
//     deliver an event.
//  7. goroutines.mu (lockGoroutines), reentry.go's registry: a leaf.
//
// Locks outside this list are leaves that take nothing the list names:
// the queues' locks (queue.go: an outgoing or incoming queue's mu, then
// the pool-wide incoming budget's semaphore or its list of ended queues
// (inBudget.endedMu, released before the ended queue's mu is taken),
// then Pool.ready's mu), the
// outgoing budget's, connHooks.mu, conn.idleMu, the bandwidth scheduler's
// (internal/sched: sched.mu, then a limiter's; stats reads the scheduler
// under the pool lock) and the channel-key cache's (internal/crypto).
//
// Under the build tag p2ppool_lockcheck every orderedMutex checks this
// order as it is taken, per goroutine, and assertHeld checks the
// "caller holds the lock" preconditions; without it both compile to
// nothing (lockCheck is a false constant).
type lockLevel uint8

const (
	lockSave lockLevel = iota + 1
	lockAdvertise
	lockPool
	lockConnBudgets
	lockEvents
	lockWatcher
	lockGoroutines
)

// A leveller names the rank of an orderedMutex in its type, so that the
// rank costs no byte in the structs that hold one (a conn holds one).
type leveller interface{ level() lockLevel }

type (
	atSave        struct{}
	atAdvertise   struct{}
	atPool        struct{}
	atConnBudgets struct{}
	atEvents      struct{}
	atWatcher     struct{}
	atGoroutines  struct{}
)

func (atSave) level() lockLevel        { return lockSave }
func (atAdvertise) level() lockLevel   { return lockAdvertise }
func (atPool) level() lockLevel        { return lockPool }
func (atConnBudgets) level() lockLevel { return lockConnBudgets }
func (atEvents) level() lockLevel      { return lockEvents }
func (atWatcher) level() lockLevel     { return lockWatcher }
func (atGoroutines) level() lockLevel  { return lockGoroutines }

// orderedMutex is a sync.Mutex of rank L in the lock order above. The
// zero value is unlocked. In normal builds it is exactly a sync.Mutex.
type orderedMutex[L leveller] struct {
	mu sync.Mutex
}

// poolMutex is the pool lock.
type poolMutex = orderedMutex[atPool]

// Lock locks m; under p2ppool_lockcheck it first panics if the calling
// goroutine holds a lock of the same or a later rank.
func (m *orderedMutex[L]) Lock() {
	if lockCheck {
		var l L
		checkAcquire(m, l.level())
	}
	m.mu.Lock()
	if lockCheck {
		var l L
		noteAcquired(m, l.level())
	}
}

// Unlock unlocks m.
func (m *orderedMutex[L]) Unlock() {
	if lockCheck {
		noteReleased(m)
	}
	m.mu.Unlock()
}

// assertHeld states that the caller holds m; under p2ppool_lockcheck it
// panics if the calling goroutine does not.
func (m *orderedMutex[L]) assertHeld() {
	if lockCheck {
		var l L
		checkHeld(m, l.level())
	}
}
