package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/p2ppool/p2ppool"
)

// msg is the benchmark's one message kind: an opaque blob.
type msg = []byte

type (
	benchPool = p2ppool.BasicPool[msg]
	benchConn = p2ppool.BasicConnection[msg]
)

// blobEncoding sends a msg as its bytes under tag 0x1000. On the wire a
// message is a 4-byte size, the 2-byte tag and the body, the size prefix
// matching the libp2p half's 4-byte length. Decode copies the body (the
// pool reuses it after the call, and the message goes through the
// connection's queue before Read returns it): that copy, one allocation per
// message, is part of what the throughput benchmarks measure, where the
// libp2p receiver reads into one reused buffer.
func blobEncoding() p2ppool.Encoding[msg] {
	return p2ppool.Encoding[msg]{
		Tag:  0x1000,
		Name: "blob",
		Encode: func(dst []byte, m msg) ([]byte, bool, error) {
			return append(dst, m...), true, nil
		},
		Decode: func(body []byte) (msg, error) {
			return bytes.Clone(body), nil
		},
	}
}

// newPool starts a pool with a fresh identity (difficulty 0, instant),
// no proof-of-work check, and otherwise the library's (octez's) defaults,
// serving a listener on 127.0.0.1. onConn, if not nil, is the
// Conns().OnNew hook.
func newPool(tb testing.TB, onConn func(*benchConn), mutate ...func(*p2ppool.Config)) (*benchPool, netip.AddrPort) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	if err != nil {
		tb.Fatalf("identity: %v", err)
	}
	msgs := p2ppool.MessageConfig[msg]{
		Encodings:             []p2ppool.Encoding[msg]{blobEncoding()},
		ChainName:             "P2PPOOL_BENCH",
		DistributedDBVersions: []uint16{0},
	}
	cfg := p2ppool.Config{
		Identity:          id,
		ProofOfWorkTarget: p2ppool.NoProofOfWork,
		Limits:            p2ppool.Limits{MinConnections: 1, ExpectedConnections: 500, MaxConnections: 1000},
		// No maintenance: it would dial and send Bootstrap messages on its
		// own, which is not what these benchmarks measure.
		Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	pool, err := p2ppool.NewBasic(msgs, cfg)
	if err != nil {
		tb.Fatalf("p2ppool.New: %v", err)
	}
	if onConn != nil {
		pool.Conns().OnNew(onConn)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		pool.Serve(ln)
	}()
	tb.Cleanup(func() {
		pool.Close()
		ln.Close()
		<-served
	})
	return pool, ln.Addr().(*net.TCPAddr).AddrPort()
}

func BenchmarkP2ppool(b *testing.B) {
	b.Run("Throughput", func(b *testing.B) { benchP2ppoolThroughput(b, readMsgs) })
	// ReadBatch: the same, the receiver taking what is queued with
	// Connection.ReadBatch instead of one Read per message.
	b.Run("ReadBatch", func(b *testing.B) { benchP2ppoolThroughput(b, readMsgBatches) })
	// DeepQueue: the receiver's app queue holds 1024 messages, the depth
	// of libp2p queued's channel, instead of octez's 10 (the byte bounds
	// stay octez's 8 MiB per connection).
	b.Run("DeepQueue", func(b *testing.B) {
		benchP2ppoolThroughput(b, readMsgs, func(c *p2ppool.Config) { c.Limits.IncomingAppMessageQueueSize = 1024 })
	})
	b.Run("Connect", benchP2ppoolConnect)
}

// benchP2ppoolThroughput: one p2ppool connection, opened once (outside the
// timer) and shared by all sizes and all runs. Per iteration the sender
// calls conn.Write once (it returns when the message is queued; the
// connection's writer goroutine encodes, seals and coalesces queued
// messages into few syscalls); the receiver, on its own goroutine, calls
// Read on the server pool's side of the connection (handed over by the
// Conns().OnNew hook) b.N times. The clock stops when the receiver has
// the last message. b.SetBytes counts the payload only.
func benchP2ppoolThroughput(b *testing.B, read func(context.Context, *benchConn, int, int) error, mutate ...func(*p2ppool.Config)) {
	conns := make(chan *benchConn, 1)
	_, addr := newPool(b, func(c *benchConn) { conns <- c }, mutate...)
	client, _ := newPool(b, nil)
	ctx := context.Background()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	w, err := client.Connect(setupCtx, addr)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	var r *benchConn
	select {
	case r = <-conns:
	case <-setupCtx.Done():
		b.Fatal("no inbound connection")
	}

	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			payload := make([]byte, sz.n)
			for i := range payload {
				payload[i] = byte(i)
			}
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			done := make(chan error, 1)
			b.ResetTimer()
			cpu0 := cpuTime()
			go func() { done <- read(ctx, r, sz.n, b.N) }()
			for i := 0; i < b.N; i++ {
				if err := w.Write(ctx, payload); err != nil {
					b.Fatalf("write %d: %v", i, err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			reportCPU(b, cpu0)
		})
	}
}

func readMsgs(ctx context.Context, c *benchConn, size, n int) error {
	for i := 0; i < n; i++ {
		m, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if len(m) != size {
			return fmt.Errorf("message %d: length %d, want %d", i, len(m), size)
		}
	}
	return nil
}

// readMsgBatches is readMsgs with Connection.ReadBatch, reusing one
// slice.
func readMsgBatches(ctx context.Context, c *benchConn, size, n int) error {
	var batch []msg
	for i := 0; i < n; {
		var err error
		batch, err = c.ReadBatch(ctx, batch[:0])
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		for _, m := range batch {
			if len(m) != size {
				return fmt.Errorf("message %d: length %d, want %d", i, len(m), size)
			}
			i++
		}
	}
	return nil
}

// benchP2ppoolConnect: per iteration, client.Connect (TCP connect, then
// the octez handshake: connection messages with keys, PoW stamp and
// versions, the channel-key agreement, encrypted metadata both ways, acks
// both ways; Connect returns when the connection runs), then a 1-byte
// message round trip (the server's Conns().OnNew hook echoes it), then
// Disconnect. p2ppool allows one connection per peer, so before the next
// iteration the benchmark also waits until the server side has seen the
// disconnection (its Connection.Done is closed); otherwise the server
// would nack the next handshake as already connected. libp2p, which allows
// several connections per peer, has no such wait.
func benchP2ppoolConnect(b *testing.B) {
	ended := make(chan struct{}, 1)
	_, addr := newPool(b, func(c *benchConn) {
		go func() {
			ctx := context.Background()
			if m, err := c.Read(ctx); err == nil {
				c.Write(ctx, m)
			}
			// Done, not a failing Read: Read fails as soon as the
			// connection ends, a little before the pool's tables drop it.
			<-c.Done()
			ended <- struct{}{}
		}()
	})
	client, _ := newPool(b, nil, unlimitedDials)
	ctx := context.Background()

	// One timer for the whole run, so that the wait allocates nothing.
	timeout := time.NewTimer(setupTimeout)
	defer timeout.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := p2ppoolRoundTrip(ctx, client, addr, byte(i)); err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
		timeout.Reset(setupTimeout)
		select {
		case <-ended:
		case <-timeout.C:
			b.Fatalf("iteration %d: the server did not see the disconnection", i)
		}
	}
	reportCPU(b, cpu0)
}

// unlimitedDials turns off the client's dial rate limit (DialConfig.Rate,
// 10 attempts a second by default, a policy of ours that octez and libp2p
// do not have): the Connect benchmark dials thousands of times a second,
// and at the default rate it would measure the limiter's 100 ms between
// tokens instead of the handshake.
func unlimitedDials(c *p2ppool.Config) { c.Dial.Rate = p2ppool.Unlimited }

func p2ppoolRoundTrip(ctx context.Context, client *benchPool, addr netip.AddrPort, v byte) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	c, err := client.Connect(ctx, addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := c.Write(ctx, msg{v}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	m, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(m) != 1 || m[0] != v {
		return errors.New("echo mismatch")
	}
	if err := c.Disconnect(ctx, false); err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	return nil
}
