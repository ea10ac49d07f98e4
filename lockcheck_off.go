//go:build !p2ppool_lockcheck

package p2ppool

// lockCheck is false in normal builds: orderedMutex is a plain mutex and
// the checks below are never called (the compiler drops them).
const lockCheck = false

func checkAcquire(any, lockLevel) {}
func noteAcquired(any, lockLevel) {}
func noteReleased(any)            {}
func checkHeld(any, lockLevel)    {}
