package p2ppool

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkPoolThroughput sends Text messages one way through two pools on
// loopback TCP: Write on one connection, Read on the other, through the
// queues and the reader and writer goroutines. Compare with
// internal/socket's BenchmarkThroughput (the bare socket) and
// BenchmarkSealCeiling.
func BenchmarkPoolThroughput(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			n := newNetwork("loopback") // default kernel buffers, unlike the tests' "tcp"
			x, y := newNode(b, n, nil), newNode(b, n, nil)
			cx, cy := connect(b, x, y)
			// 6 bytes of envelope and 4 of string length.
			msg := strings.Repeat("x", size-10)
			b.SetBytes(int64(size))
			pump(b, cx, cy, msg)
		})
	}
}

// pump writes msg b.N times on cx while reading as many on cy, timed.
func pump[Msg, ConnMeta any](b *testing.B, cx, cy *Connection[Msg, ConnMeta], msg Msg) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for range b.N {
			if err := cx.Write(ctx, msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range b.N {
		if _, err := cy.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cx.out.mu.Lock()
	batches, starts := cx.out.batches, cx.out.starts
	cx.out.mu.Unlock()
	// How often the writer found the queue empty, exited, and was
	// started again by the next Write.
	b.ReportMetric(float64(starts)/float64(b.N), "starts/msg")
	// How many messages the writer found queued each time it woke: the
	// larger, the fewer chunks and syscalls per message.
	b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "msgs/batch")
}

// BenchmarkPoolRoundTrip is a ping-pong over two pools, one message out,
// its echo back, one at a time: on loopback TCP, and on p2ppooltest's
// in-memory network, where a reader parks between messages. Each message
// finds its connection idle, so this is the cost of waking (or starting)
// a writer and a reader per message, with the latency of the transport.
func BenchmarkPoolRoundTrip(b *testing.B) {
	for _, name := range []string{"loopback", "mem"} {
		b.Run(name, func(b *testing.B) { benchRoundTrip(b, newNetwork(name)) })
	}
}

func benchRoundTrip(b *testing.B, n *network) {
	x, y := newNode(b, n, nil), newNode(b, n, nil)
	cx, cy := connect(b, x, y)
	ctx := context.Background()
	errc := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			m, err := cy.Read(ctx)
			if err == nil {
				err = cy.Write(ctx, m)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range b.N {
		if err := cx.Write(ctx, "ping"); err != nil {
			b.Fatal(err)
		}
		if _, err := cx.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
