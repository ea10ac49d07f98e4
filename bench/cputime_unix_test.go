//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system, all threads) the process
// has used. The Connect benchmarks report it per connect ("cpu-ns/op"), a
// figure that other load on the machine disturbs far less than wall time:
// a connect is a chain of round trips, each a goroutine hand-off that
// waits for a free core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
