package p2ppool

import (
	"sync"
	"testing"
	"unsafe"
)

// TestOrderedMutexSize: the rank of an orderedMutex is in its type, so a
// struct that holds one (each conn holds one) pays nothing for it.
func TestOrderedMutexSize(t *testing.T) {
	if got, want := unsafe.Sizeof(orderedMutex[atConnBudgets]{}), unsafe.Sizeof(sync.Mutex{}); got != want {
		t.Errorf("orderedMutex is %d bytes, sync.Mutex %d", got, want)
	}
}

// BenchmarkPoolLock compares an uncontended Lock/Unlock of the pool lock
// with a plain sync.Mutex: without p2ppool_lockcheck they must cost the
// same (the checks compile away).
func BenchmarkPoolLock(b *testing.B) {
	b.Run("sync.Mutex", func(b *testing.B) {
		b.ReportAllocs()
		var mu sync.Mutex
		n := 0
		for b.Loop() {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	b.Run("poolMutex", func(b *testing.B) {
		b.ReportAllocs()
		var mu poolMutex
		n := 0
		for b.Loop() {
			mu.Lock()
			mu.assertHeld()
			n++
			mu.Unlock()
		}
	})
}
