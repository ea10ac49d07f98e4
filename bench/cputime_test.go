//go:build unix

package bench

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system, all threads) the process has
// used so far. Both ends of every benchmark run in this process, so its
// growth over a run is what the run cost the machine, sender and receiver
// together: a figure other load disturbs far less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per iteration as
// cpu-ns/op. Both halves (p2ppool and libp2p) call it at the same points:
// from the timer's start until the receiver has the last message.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
