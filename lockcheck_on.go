//go:build p2ppool_lockcheck

package p2ppool

import (
	"fmt"
	"slices"
	"sync"

	"github.com/p2ppool/p2ppool/internal/goid"
)

// lockCheck is true under the build tag p2ppool_lockcheck: every
// orderedMutex checks the lock order of locks.go as it is taken (as x/net's
// http2 checks that it runs on its serve goroutine), at the cost of a
// goroutine-id lookup per Lock.
const lockCheck = true

// heldLock is a lock a goroutine holds.
type heldLock struct {
	m     any // the *orderedMutex
	level lockLevel
}

// lockState is which goroutine holds which ordered locks, by
// internal/goid token (a token is reused only once its goroutine has
// exited, and no goroutine exits holding a pool lock). Its own mutex
// is a plain one, outside the order.
var lockState struct {
	mu     sync.Mutex
	byG    map[uint64][]heldLock // locks held, by goroutine id, in order taken
	owners map[any]uint64        // goroutine holding each lock
}

// checkAcquire panics if the calling goroutine holds a lock of rank level
// or later: taking m now could deadlock against a goroutine that follows
// the order.
func checkAcquire(m any, level lockLevel) {
	g := uint64(goid.Token())
	lockState.mu.Lock()
	defer lockState.mu.Unlock()
	for _, h := range lockState.byG[g] {
		if h.level >= level {
			panic(fmt.Sprintf("p2ppool: lock order violated: taking the %v (rank %d) while holding the %v (rank %d); see locks.go",
				level, level, h.level, h.level))
		}
	}
}

func noteAcquired(m any, level lockLevel) {
	g := uint64(goid.Token())
	lockState.mu.Lock()
	defer lockState.mu.Unlock()
	if lockState.byG == nil {
		lockState.byG = make(map[uint64][]heldLock)
		lockState.owners = make(map[any]uint64)
	}
	lockState.byG[g] = append(lockState.byG[g], heldLock{m, level})
	lockState.owners[m] = g
}

// noteReleased forgets m for the goroutine that took it (a Go mutex may
// be unlocked by another).
func noteReleased(m any) {
	lockState.mu.Lock()
	defer lockState.mu.Unlock()
	g, ok := lockState.owners[m]
	if !ok {
		return
	}
	delete(lockState.owners, m)
	hs := lockState.byG[g]
	if i := slices.IndexFunc(hs, func(h heldLock) bool { return h.m == m }); i >= 0 {
		hs = slices.Delete(hs, i, i+1)
	}
	if len(hs) == 0 {
		delete(lockState.byG, g)
	} else {
		lockState.byG[g] = hs
	}
}

// checkHeld panics unless the calling goroutine holds m.
func checkHeld(m any, level lockLevel) {
	g := uint64(goid.Token())
	lockState.mu.Lock()
	defer lockState.mu.Unlock()
	if owner, ok := lockState.owners[m]; !ok || owner != g {
		panic(fmt.Sprintf("p2ppool: the %v must be held here; see locks.go", level))
	}
}

// lockNames name the ranks in the checker's panics.
var lockNames = [...]string{
	lockSave: "peers-file save lock", lockAdvertise: "advertise cache lock", lockPool: "pool lock",
	lockConnBudgets: "connection budgets lock", lockEvents: "event hub lock", lockWatcher: "watcher lock",
	lockGoroutines: "goroutine registry lock",
}

func (l lockLevel) String() string { return lockNames[l] }
