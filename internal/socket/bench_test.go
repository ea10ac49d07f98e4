package socket

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/sched"
)

var benchSizes = []int{100, 1 << 10, 64 << 10}

// BenchmarkHandshake measures connect + full handshake (connection
// messages, metadata, ack) over loopback TCP, both sides in this process:
// "precompute" derives the channel key on each side every time, "cached"
// takes it from each side's ChannelKeyCache, as a pool does (the same two
// peers reconnect, so every handshake after the first hits).
func BenchmarkHandshake(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "precompute"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) { benchHandshake(b, cached) })
	}
}

func benchHandshake(b *testing.B, cached bool) {
	iniCfg, respCfg := testConfig(b), testConfig(b)
	if cached {
		iniCfg.KeyCache = crypto.NewChannelKeyCache(&iniCfg.SecretKey, 0)
		respCfg.KeyCache = crypto.NewChannelKeyCache(&respCfg.SecretKey, 0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				done <- nil
				return
			}
			a, err := Authenticate(context.Background(), nc, true, respCfg)
			if err == nil {
				var c *Conn
				if c, err = a.Accept(); err == nil {
					c.Close()
					c.Free()
				}
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		a, err := Authenticate(context.Background(), nc, false, iniCfg)
		if err != nil {
			b.Fatal(err)
		}
		c, err := a.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		c.Free()
	}
	ln.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkThroughput sends size-byte messages one way over one
// authenticated loopback TCP socket. The writer hands batches of up to
// 256 KiB to WriteMessages, as a coalescing writer goroutine would.
// The "scheduled" runs put both ends behind the pool's bandwidth
// scheduler with no limit set, as every pool connection is: their ratio to
// the plain runs is the scheduler's overhead.
func BenchmarkThroughput(b *testing.B) {
	for _, scheduled := range []bool{false, true} {
		for _, size := range benchSizes {
			name := fmt.Sprintf("%dB", size)
			if scheduled {
				name = "scheduled/" + name
			}
			b.Run(name, func(b *testing.B) { benchThroughput(b, size, scheduled) })
		}
	}
}

func benchThroughput(b *testing.B, size int, scheduled bool) {
	tr := transports[1]
	if scheduled {
		tr = scheduledTCP(b)
	}
	w, r := connectedPair(b, tr, testConfig(b), testConfig(b))
	msg := appMessage(0x10, make([]byte, size-6))
	batch := make([][]byte, max(1, (256<<10)/len(msg)))
	for i := range batch {
		batch[i] = msg
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	errc := make(chan error, 1)
	go func() {
		for left := b.N; left > 0; {
			n := min(left, len(batch))
			if err := w.WriteMessages(batch[:n]...); err != nil {
				errc <- err
				return
			}
			left -= n
		}
		errc <- nil
	}()
	for i := 0; i < b.N; i++ {
		m, err := r.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if len(m) != size {
			b.Fatalf("got %d bytes", len(m))
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// scheduledTCP is the tcp transport with both ends behind a scheduler of
// their own with no limit set, as every pool connection is.
func scheduledTCP(b *testing.B) transport {
	s, err := sched.New(sched.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return transport{"tcp+sched", func(t testing.TB) (net.Conn, net.Conn) {
		x, y := tcpPair(t)
		return s.Wrap(x), s.Wrap(y)
	}}
}

// BenchmarkSealCeiling is the crypto ceiling of BenchmarkThroughput: the
// writer sealing the same batches of size-byte messages as one stream in
// full chunks, with no I/O and no opening.
func BenchmarkSealCeiling(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			w, _ := newWriter(&Config{})
			defer w.Free()
			msg := make([]byte, size)
			batch := make([][]byte, max(1, (256<<10)/size))
			for i := range batch {
				batch[i] = msg
			}
			out := make([]byte, 0, SealedSize(len(batch)*size, MaxChunkPayload))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for left := b.N; left > 0; {
				n := min(left, len(batch))
				out = w.appendStream(out[:0], batch[:n], n*size, MaxChunkPayload)
				left -= n
			}
		})
	}
}
