package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/p2ppool/p2ppool"
)

// The eager-writers benchmark (issue 20 item 3): eagerConns connections
// from one node, each with a writer that sends eagerSize-byte messages as
// fast as the API lets it, each read on the other end by a reader of its
// own. Each side runs in a child process of its own, so that its peak RSS
// (VmHWM) is its own and not the other side's garbage.
const (
	eagerConns = 50
	eagerSize  = 1 << 10
	// eagerMsgs is the number of messages each writer sends, unless
	// eagerMsgsEnv says otherwise: 50 × 20,000 × 1 KiB is about 1 GB a
	// side, a second or two, long enough for the queues to fill and the
	// heap to reach its steady size.
	eagerMsgs = 20000

	// eagerSideEnv, set in a child process, names the side it runs
	// (p2ppool or libp2p); eagerMsgsEnv overrides eagerMsgs;
	// eagerMemProfileEnv, if set, is where a child writes its heap
	// profile (alloc_space tells where the memory went) and is suffixed
	// with the side.
	eagerSideEnv       = "P2PPOOL_BENCH_EAGER_SIDE"
	eagerMsgsEnv       = "P2PPOOL_BENCH_EAGER_MSGS"
	eagerMemProfileEnv = "P2PPOOL_BENCH_EAGER_MEMPROFILE"
	// eagerOutQueueEnv and eagerOutTotalEnv, for experiments, set the
	// sending pool's Limits.OutgoingMessageQueueSize and Budgets.TotalOutgoingQueueSize
	// (bytes) instead of octez's and the library's defaults.
	eagerOutQueueEnv = "P2PPOOL_BENCH_EAGER_OUTQ"
	eagerOutTotalEnv = "P2PPOOL_BENCH_EAGER_OUTTOTAL"

	// eagerResultPrefix starts the line a child prints its result on.
	eagerResultPrefix = "EAGER-RESULT "
)

// eagerResult is what a child process measured.
type eagerResult struct {
	// Bytes is the payload moved, Nanos the time from the first Write to
	// the last message read.
	Bytes int64
	Nanos int64
	// StartKB is the process's RSS once every connection is up, before
	// the first Write; PeakKB its VmHWM at the end: the highest RSS of
	// the whole process, set-up included.
	StartKB, PeakKB int64
	// HeapPeak is the highest heap in objects (live and not yet swept)
	// sampled every 5 ms while the writers ran.
	HeapPeak int64
}

// BenchmarkEagerWriters: per iteration, one child process for p2ppool
// and one for libp2p queued, one after the other, each moving
// eagerConns × eagerMsgs messages of 1 KiB from one node to eagerConns
// others over loopback TCP. p2ppool: one sending pool with octez's
// defaults (its queues, 8 MiB a connection, and the pool-wide outgoing
// budget, 32 MiB), Connect to 50 receiving pools, one goroutine per
// connection calling Write in a loop, and on the other end one calling
// Connection.Read. libp2p queued: one sending host with a connection and
// a yamux stream to each of 50 receiving hosts, per stream a bounded
// channel of 1,024 messages drained by a writer goroutine into a 64 KiB
// bufio.Writer, flushed when the channel is empty; the receiver parses
// each message into its own []byte from a 64 KiB bufio.Reader. ns/op is
// the two child processes, start-up included; the metrics are each
// side's peak RSS (MB, VmHWM), its RSS once connected, its heap peak, its
// throughput (payload MB/s from the first Write to the last message read)
// and the two ratios, p2ppool ÷ libp2p.
func BenchmarkEagerWriters(b *testing.B) {
	switch side := os.Getenv(eagerSideEnv); side {
	case "":
	case "p2ppool", "libp2p":
		eagerChild(b, side)
		return
	default:
		b.Fatalf("%s=%q: want p2ppool or libp2p", eagerSideEnv, side)
	}
	var p2p, lib []eagerResult
	for i := 0; i < b.N; i++ {
		p2p = append(p2p, eagerSpawn(b, "p2ppool"))
		lib = append(lib, eagerSpawn(b, "libp2p"))
	}
	pm, lm := eagerMedian(p2p), eagerMedian(lib)
	mb := func(kb int64) float64 { return float64(kb) / 1000 }
	b.ReportMetric(mb(pm.PeakKB), "p2ppool-peak-MB")
	b.ReportMetric(mb(lm.PeakKB), "libp2p-peak-MB")
	b.ReportMetric(float64(pm.PeakKB)/float64(lm.PeakKB), "peak-ratio")
	b.ReportMetric(mb(pm.StartKB), "p2ppool-start-MB")
	b.ReportMetric(mb(lm.StartKB), "libp2p-start-MB")
	b.ReportMetric(float64(pm.HeapPeak)/1e6, "p2ppool-heap-MB")
	b.ReportMetric(float64(lm.HeapPeak)/1e6, "libp2p-heap-MB")
	pr := float64(pm.Bytes) / float64(pm.Nanos) * 1e3
	lr := float64(lm.Bytes) / float64(lm.Nanos) * 1e3
	b.ReportMetric(pr, "p2ppool-MB/s")
	b.ReportMetric(lr, "libp2p-MB/s")
	b.ReportMetric(pr/lr, "speed-ratio")
}

// eagerMedian is the median run by peak RSS (the throughput figures are
// that run's), so that one figure and its rate come from the same run.
func eagerMedian(rs []eagerResult) eagerResult {
	s := append([]eagerResult(nil), rs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].PeakKB < s[j-1].PeakKB; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// eagerSpawn runs one side in a child process of this test binary and
// returns what it measured.
func eagerSpawn(b *testing.B, side string) eagerResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkEagerWriters$", "-test.benchtime=1x", "-test.count=1")
	// Without the application heap (appHeapEnv): the garbage its goal
	// lets pile up would be most of the peak RSS the children measure.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, appHeapEnv+"=") })
	cmd.Env = append(env, eagerSideEnv+"="+side)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v\n%s%s", side, err, out, stderr.Bytes())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, eagerResultPrefix); ok {
			var r eagerResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				b.Fatalf("%s child: %v in %q", side, err, line)
			}
			return r
		}
	}
	b.Fatalf("%s child printed no result:\n%s%s", side, out, stderr.Bytes())
	return eagerResult{}
}

// eagerChild runs one side in this (child) process and prints the result.
func eagerChild(b *testing.B, side string) {
	msgs := eagerMsgs
	if s := os.Getenv(eagerMsgsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive count", eagerMsgsEnv, s)
		}
		msgs = n
	}
	var r eagerResult
	if side == "p2ppool" {
		r = eagerP2ppool(b, msgs)
	} else {
		r = eagerLibp2p(b, msgs)
	}
	r.PeakKB = procStatusKB(b, "VmHWM")
	if path := os.Getenv(eagerMemProfileEnv); path != "" {
		f, err := os.Create(path + "." + side)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	j, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%s%s\n", eagerResultPrefix, j)
}

// eagerRun times write(i) for each of eagerConns writers and read(i) for
// each reader, from the first write to the last read, sampling the heap
// meanwhile.
func eagerRun(b *testing.B, msgs int, write, read func(i int) error) eagerResult {
	r := eagerResult{Bytes: int64(eagerConns) * int64(msgs) * eagerSize, StartKB: procStatusKB(b, "VmRSS")}
	stop := make(chan struct{})
	sampled := make(chan int64)
	go func() { sampled <- sampleHeap(stop) }()
	var wg sync.WaitGroup
	errs := make(chan error, 2*eagerConns)
	start := time.Now()
	for i := 0; i < eagerConns; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := write(i); err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := read(i); err != nil {
				errs <- fmt.Errorf("reader %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	r.Nanos = time.Since(start).Nanoseconds()
	close(stop)
	r.HeapPeak = <-sampled
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return r
}

// sampleHeap returns the highest heap-objects figure it saw every 5 ms
// until stop is closed.
func sampleHeap(stop <-chan struct{}) int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var peak int64
	for {
		metrics.Read(s)
		peak = max(peak, int64(s[0].Value.Uint64()))
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// eagerP2ppool: one sending pool with eagerConns connections, each to a
// receiving pool of its own.
func eagerP2ppool(b *testing.B, msgs int) eagerResult {
	ctx := context.Background()
	// Connect from the application is not throttled by maintenance but
	// by the dial limiter (10/s): unlimited, so that set-up is quick.
	sender, _ := newPool(b, nil, func(c *p2ppool.Config) {
		c.Dial.Rate = p2ppool.Unlimited
		c.Limits.OutgoingMessageQueueSize = envBytes(b, eagerOutQueueEnv)
		c.Budgets.TotalOutgoingQueueSize = envBytes(b, eagerOutTotalEnv)
	})
	ws := make([]*benchConn, eagerConns)
	rs := make([]*benchConn, eagerConns)
	for i := range eagerConns {
		conns := make(chan *benchConn, 1)
		_, addr := newPool(b, func(c *benchConn) { conns <- c })
		setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
		w, err := sender.Connect(setupCtx, addr)
		if err != nil {
			b.Fatalf("connect %d: %v", i, err)
		}
		select {
		case rs[i] = <-conns:
		case <-setupCtx.Done():
			b.Fatalf("connection %d: no inbound connection", i)
		}
		cancel()
		ws[i] = w
	}
	payload := pattern(eagerSize)
	return eagerRun(b, msgs, func(i int) error {
		for j := 0; j < msgs; j++ {
			if err := ws[i].Write(ctx, payload); err != nil {
				return fmt.Errorf("write %d: %w", j, err)
			}
		}
		return nil
	}, func(i int) error {
		return readMsgs(ctx, rs[i], eagerSize, msgs)
	})
}

// eagerLibp2p: one sending host with a connection and a stream to each of
// eagerConns receiving hosts; libp2p queued's writer on each stream.
func eagerLibp2p(b *testing.B, msgs int) eagerResult {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	sender := newHost(b)
	ws := make([]network.Stream, eagerConns)
	rs := make([]*bufio.Reader, eagerConns)
	for i := range eagerConns {
		h := newHost(b)
		sender.Peerstore().AddAddrs(h.ID(), h.Addrs(), peerstore.PermanentAddrTTL)
		ws[i], rs[i] = openBlobStream(ctx, b, sender, h)
	}
	payload := pattern(eagerSize)
	return eagerRun(b, msgs, func(i int) error {
		queue := make(chan []byte, 1024)
		written := make(chan error, 1)
		go func() {
			fw := &frameWriter{w: bufio.NewWriterSize(ws[i], bufSize)}
			var err error
			for m := range queue {
				if err == nil {
					err = fw.put(m)
				}
				if err == nil && len(queue) == 0 {
					err = fw.w.Flush()
				}
			}
			written <- err
		}()
		for j := 0; j < msgs; j++ {
			queue <- payload
		}
		close(queue)
		return <-written
	}, func(i int) error {
		return readOwnedFrames(rs[i], eagerSize, msgs)
	})
}

// envBytes is the byte count in the environment variable name, 0 (the
// default) if it is unset.
func envBytes(b *testing.B, name string) int {
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive byte count", name, s)
	}
	return n
}

// procStatusKB reads a kB field of /proc/self/status (VmRSS, VmHWM).
func procStatusKB(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("peak RSS: %v (Linux only)", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
