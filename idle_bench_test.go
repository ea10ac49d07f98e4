package p2ppool

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// idleConns is how many idle connections BenchmarkIdleConnections opens
// on the mem network (1,000 with -short); on loopback TCP it opens
// idleConnsTCP, which two file descriptors each keep under the usual
// limit of open files.
const (
	idleConns    = 10_000
	idleConnsTCP = 2_000
)

// BenchmarkIdleConnections opens idle connections to one pool, on the
// in-memory mem network and on loopback TCP, lets them go idle, and
// reports what the pool's end of one idle connection costs: heap bytes
// (heap-B/conn), goroutine stack bytes (stack-B/conn) and goroutines
// (goroutines/conn). On mem the reader of an idle connection parks
// (p2ppooltest's NotifyReadable): no goroutine, no stack; over TCP it
// waits in a read. The peers are bare authenticated sockets
// (internal/socket), whose own end is measured first, on pairs of them
// on the same network, and taken out of the heap figure: an idle socket
// end holds no pooled buffer, so it is the same on both sides of such a
// pair.
func BenchmarkIdleConnections(b *testing.B) {
	for _, name := range []string{"mem", "tcp"} {
		b.Run(name, func(b *testing.B) {
			n := idleConns
			if name == "tcp" {
				n = idleConnsTCP
			}
			if testing.Short() {
				n = 1_000
			}
			benchIdleConnections(b, name, n)
		})
	}
}

func benchIdleConnections(b *testing.B, name string, n int) {
	ids := make([]*Identity, n)
	cfgs := make([]socket.Config, n)
	for i := range ids {
		ids[i] = testIdentity(b)
		cfgs[i] = rawConfig(b, ids[i], wire.Metadata{})
	}
	b.ReportAllocs()
	for b.Loop() {
		socketEnd := measure(b, func() func() { return openSocketPairs(b, newNetwork(name), cfgs) }).heap / float64(2*n)

		net := newNetwork(name)
		hub := newNode(b, net, func(c *Config) {
			c.Limits.MaxConnections, c.Limits.ExpectedConnections, c.Limits.MinConnections = n+1, n, 0
			c.Admission.MaxIncomingConnections = 64
		})
		m := measure(b, func() func() { return dialIdle(b, net, hub, ids, cfgs) })
		b.ReportMetric(m.heap/float64(n)-socketEnd, "heap-B/conn")
		b.ReportMetric(m.stack/float64(n), "stack-B/conn")
		b.ReportMetric(m.goroutines/float64(n), "goroutines/conn")
		b.ReportMetric(socketEnd, "socket-end-B/conn")
		hub.Close()
	}
}

type footprint struct{ heap, stack, goroutines float64 }

// measure runs open, which sets up idle connections and returns their
// teardown, and returns what the process gained in between, after
// garbage collection.
func measure(b testing.TB, open func() (teardown func())) footprint {
	before := snapshot()
	teardown := open()
	after := snapshot()
	teardown()
	return footprint{
		heap:       float64(after.heap) - float64(before.heap),
		stack:      float64(after.stack) - float64(before.stack),
		goroutines: float64(after.goroutines) - float64(before.goroutines),
	}
}

type memSnapshot struct {
	heap, stack uint64
	goroutines  int
}

func snapshot() memSnapshot {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// openSocketPairs hands out pairs of authenticated sockets on nw, one
// per config, and returns their teardown.
func openSocketPairs(b *testing.B, nw *network, cfgs []socket.Config) func() {
	conns := make([]*socket.Conn, 0, 2*len(cfgs))
	for i := range cfgs {
		x, y := nw.connPair(b)
		done := make(chan *socket.Conn, 1)
		go func() {
			a, err := socket.Authenticate(context.Background(), y, true, &cfgs[(i+1)%len(cfgs)])
			if err != nil {
				done <- nil
				return
			}
			c, _ := a.Accept()
			done <- c
		}()
		a, err := socket.Authenticate(context.Background(), x, false, &cfgs[i])
		require.NoError(b, err)
		c, err := a.Accept()
		require.NoError(b, err)
		other := <-done
		require.NotNil(b, other)
		conns = append(conns, c, other)
	}
	return func() {
		for _, c := range conns {
			c.Close()
			c.Free()
		}
	}
}

// dialIdle connects one bare socket per identity to hub, waits until hub
// lists them all, and returns their teardown.
func dialIdle(b *testing.B, n *network, hub *node, ids []*Identity, cfgs []socket.Config) func() {
	conns := make([]*socket.Conn, len(ids))
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				nc, err := n.DialContext(context.Background(), "tcp", hub.point.String())
				if err == nil {
					var a *socket.AuthConn
					if a, err = socket.Authenticate(context.Background(), nc, false, &cfgs[i]); err == nil {
						conns[i], err = a.Accept()
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	waitFor(b, "every connection to be listed", func() bool { return len(hub.Conns().All()) == len(ids) })
	return func() {
		for _, c := range conns {
			c.Close()
			c.Free()
		}
	}
}
