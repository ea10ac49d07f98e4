package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// appHeapEnv, set to a number of MiB, runs the benchmarks beside a live
// heap of that size, as a library runs inside an application. Go's
// collector starts a cycle once the heap has grown by GOGC percent of
// what was live after the last one (4 MiB at least). A benchmark process
// holds little besides the library under test, so without an
// application's heap the pace of collection is set by each library's own
// live memory: at 100-byte messages libp2p, with a few MiB live,
// collects about 130 times a second, and p2ppool, whose queues and
// buffers keep 10 to 20 MiB live, about 38 times. With
// P2PPOOL_BENCH_APPHEAP_MIB=256 both collect about once per 256 MiB
// allocated, the regime of a node whose own state is that large.
//
// The heap is one pointer-free allocation that is never written: the
// collector counts it as live without scanning it, and its pages are
// never touched. What the process holds more is the garbage the larger
// goal lets pile up between collections, as in such an application
// (about 300 MB of peak RSS with 256 MiB). That room is touched once
// before the benchmarks run (warmHeap), as a long-running application's
// has been: without that, the benchmarks' first hundreds of MiB of
// allocations land on pages never touched, and each page's first use
// costs a fault that no steady state pays.
const appHeapEnv = "P2PPOOL_BENCH_APPHEAP_MIB"

// appHeap is the application's heap, kept live until the benchmarks end.
var appHeap []byte

// warmHeap allocates mib MiB of garbage, touching every page, then
// collects it: the heap keeps those pages, faulted in, for the
// benchmarks' allocations.
func warmHeap(mib int) {
	const page = 4 << 10
	var sink [][]byte
	for range mib {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		sink = append(sink, b)
	}
	runtime.KeepAlive(sink)
	sink = nil
	runtime.GC()
}

func TestMain(m *testing.M) {
	if s := os.Getenv(appHeapEnv); s != "" {
		mib, err := strconv.Atoi(s)
		if err != nil || mib < 0 {
			fmt.Fprintf(os.Stderr, "%s=%q: want a number of MiB\n", appHeapEnv, s)
			os.Exit(2)
		}
		appHeap = make([]byte, mib<<20)
		warmHeap(mib)
	}
	code := m.Run()
	runtime.KeepAlive(appHeap)
	os.Exit(code)
}
