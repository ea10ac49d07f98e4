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

// lengthBuf is what lengthEncoding's messages view: no message the
// benchmarks send is longer.
var lengthBuf = make([]byte, 64<<10)

// lengthEncoding is blobEncoding whose Decode keeps nothing of the body:
// the message is a view of its length into lengthBuf, the same for
// every message (the benchmarks check only lengths). It leaves out the
// allocation and copy an application makes per message.
func lengthEncoding() p2ppool.Encoding[msg] {
	e := blobEncoding()
	e.Decode = func(body []byte) (msg, error) {
		if len(body) > len(lengthBuf) {
			return nil, fmt.Errorf("body of %d bytes, lengthBuf holds %d", len(body), len(lengthBuf))
		}
		return lengthBuf[:len(body)], nil
	}
	return e
}

// newPool starts a pool with a fresh identity (difficulty 0, instant),
// no proof-of-work check, and otherwise the library's (octez's) defaults,
// serving a listener on 127.0.0.1. onConn, if not nil, is the
// Conns().OnNew hook.
func newPool(tb testing.TB, onConn func(*benchConn), mutate ...func(*p2ppool.Config)) (*benchPool, netip.AddrPort) {
	tb.Helper()
	return newPoolWith(tb, blobEncoding(), onConn, mutate...)
}

// newPoolWith is newPool with enc as the one message kind.
func newPoolWith(tb testing.TB, enc p2ppool.Encoding[msg], onConn func(*benchConn), mutate ...func(*p2ppool.Config)) (*benchPool, netip.AddrPort) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	if err != nil {
		tb.Fatalf("identity: %v", err)
	}
	msgs := p2ppool.MessageConfig[msg]{
		Encodings:             []p2ppool.Encoding[msg]{enc},
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
	// octez's socket options, as the client pool's default Dialer has
	// (the keep-alive inherited from the listener: no setsockopt per
	// accepted connection).
	ln, err := p2ppool.ListenConfig().Listen(ctx, "tcp", "127.0.0.1:0")
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
	// NoAlloc: Throughput, the application keeping no message (its
	// Decode returns a view of the body's length, see lengthEncoding),
	// beside Libp2p/QueuedNoAlloc.
	b.Run("NoAlloc", func(b *testing.B) { benchP2ppoolThroughputWith(b, lengthEncoding(), readMsgs) })
	// DeepQueue: the receiver's app queue holds 1024 messages, the depth
	// of libp2p queued's channel, instead of octez's 10 (the byte bounds
	// stay octez's 8 MiB per connection).
	b.Run("DeepQueue", func(b *testing.B) {
		benchP2ppoolThroughput(b, readMsgs, func(c *p2ppool.Config) { c.Limits.IncomingAppMessageQueueSize = 1024 })
	})
	b.Run("Connect", func(b *testing.B) { benchP2ppoolConnect(b, 2) })
	// ConnectSerial: one client, so every iteration also waits for the
	// server's teardown of the connection before.
	b.Run("ConnectSerial", func(b *testing.B) { benchP2ppoolConnect(b, 1) })
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
	benchP2ppoolThroughputWith(b, blobEncoding(), read, mutate...)
}

// benchP2ppoolThroughputWith is benchP2ppoolThroughput with the receiving
// pool decoding with enc.
func benchP2ppoolThroughputWith(b *testing.B, enc p2ppool.Encoding[msg], read func(context.Context, *benchConn, int, int) error, mutate ...func(*p2ppool.Config)) {
	conns := make(chan *benchConn, 1)
	_, addr := newPoolWith(b, enc, func(c *benchConn) { conns <- c }, mutate...)
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
			io0 := readSysIO()
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
			reportSysIO(b, io0)
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
// Disconnect(ctx, false): it sends nothing more, but returns once the
// client's end is torn down and gone from its tables (as documented),
// one hand-off to the connection's reader that libp2p's ClosePeer may
// not wait for; the server's teardown is not waited for.
//
// p2ppool allows one connection per peer (octez's rule): a client that
// dials again before the server has seen its last connection end is
// nacked as already connected. So clients take turns (nclients of them,
// each with its own identity), and before a client dials again the
// benchmark waits until the server has seen that client's previous
// connection end (its Connection.Done is closed). With two clients the
// server's teardown of one connection overlaps the next client's connect,
// as in libp2p's benchmark, which allows several connections per peer and
// never waits for the server (Connect); with one (ConnectSerial) the
// server's teardown is inside every iteration.
func benchP2ppoolConnect(b *testing.B, nclients int) {
	ended := make([]chan struct{}, nclients)
	byPeer := make(map[p2ppool.PeerID]int, nclients)
	_, addr := newPool(b, func(c *benchConn) {
		k := byPeer[c.Peer()] // written before the first dial
		go func() {
			ctx := context.Background()
			if m, err := c.Read(ctx); err == nil {
				c.Write(ctx, m)
			}
			// Done, not a failing Read: Read fails as soon as the
			// connection ends, a little before the pool's tables drop it.
			<-c.Done()
			ended[k] <- struct{}{}
		}()
	})
	clients := make([]*benchPool, nclients)
	for k := range clients {
		clients[k], _ = newPool(b, nil, unlimitedDials)
		byPeer[clients[k].Config().Identity.PeerID] = k
		ended[k] = make(chan struct{}, 1)
	}
	ctx := context.Background()
	busy := make([]bool, nclients)
	// One timer for the whole run, so that the wait allocates nothing.
	timeout := time.NewTimer(setupTimeout)
	defer timeout.Stop()
	wait := func(i, k int) {
		if !busy[k] {
			return
		}
		timeout.Reset(setupTimeout)
		select {
		case <-ended[k]:
			busy[k] = false
		case <-timeout.C:
			b.Fatalf("iteration %d: the server did not see client %d's last connection end", i, k)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		k := i % nclients
		wait(i, k)
		if err := p2ppoolRoundTrip(ctx, clients[k], addr, byte(i)); err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
		busy[k] = true
	}
	reportCPU(b, cpu0)
	b.StopTimer()
	for k := range clients {
		wait(b.N, k)
	}
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
