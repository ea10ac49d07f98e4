package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// sizes are the payload sizes of the throughput benchmarks, shared by the
// libp2p and the p2ppool halves so that their sub-benchmark names match.
var sizes = []struct {
	name string
	n    int
}{
	{"100B", 100},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

const (
	// bufSize is the bufio buffer on both ends of the libp2p stream: 64 KiB,
	// yamux's default MaxMessageSize (largest frame, header included), so a
	// full buffer goes out as one Write of about one frame.
	bufSize = 64 << 10

	blobProto = protocol.ID("/p2ppool-bench/blob/1.0.0")
	echoProto = protocol.ID("/p2ppool-bench/echo/1.0.0")

	setupTimeout = 30 * time.Second
)

// newHost starts a libp2p host on 127.0.0.1 with exactly one transport
// (TCP), one security protocol (Noise) and one muxer (yamux), no resource
// limits, and as few extras as the basic host lets go: no relay, no ping,
// no metrics, no NAT port mapping (off unless asked for), no address
// discovery from identify. Identify itself cannot be turned off: the basic
// host runs it on every new connection, and Connect/NewStream wait for it.
//
// Reuseport is off: it only serves NAT hole punching (dialing from the
// listen port), and with it the Connect benchmark would redial the same
// 4-tuple over and over while earlier ones sit in TIME_WAIT.
func newHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.Ping(false),
		libp2p.DisableMetrics(),
		libp2p.DisableIdentifyAddressDiscovery(),
	)
	if err != nil {
		tb.Fatalf("libp2p.New: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// hostPair starts two hosts and puts the second one's listen addresses in
// the first one's peerstore, so that h1.Connect(ctx, peer.AddrInfo{ID:
// h2.ID()}) dials from the peerstore.
func hostPair(tb testing.TB) (h1, h2 host.Host) {
	tb.Helper()
	h1, h2 = newHost(tb), newHost(tb)
	h1.Peerstore().AddAddrs(h2.ID(), h2.Addrs(), peerstore.PermanentAddrTTL)
	return h1, h2
}

// frameWriter writes length-prefixed messages (4-byte big-endian length,
// then the payload) into a bufio.Writer; the header scratch lives in the
// struct so that writing a message allocates nothing.
type frameWriter struct {
	w   *bufio.Writer
	hdr [4]byte
}

func (f *frameWriter) put(payload []byte) error {
	binary.BigEndian.PutUint32(f.hdr[:], uint32(len(payload)))
	if _, err := f.w.Write(f.hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(payload)
	return err
}

// readFrames reads n length-prefixed messages from r into buf (reused, so
// no allocation per message) and checks each length.
func readFrames(r *bufio.Reader, buf []byte, n int) error {
	var hdr [4]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("message %d header: %w", i, err)
		}
		l := int(binary.BigEndian.Uint32(hdr[:]))
		if l != len(buf) {
			return fmt.Errorf("message %d: length %d, want %d", i, l, len(buf))
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("message %d body: %w", i, err)
		}
	}
	return nil
}

func BenchmarkLibp2p(b *testing.B) {
	b.Run("Throughput", benchLibp2pThroughput)
	b.Run("WritePerMsg", benchLibp2pWritePerMsg)
	b.Run("Queued", func(b *testing.B) { benchLibp2pQueued(b, readOwnedFrames) })
	// QueuedNoAlloc: Queued, the receiver reading every message into one
	// reused buffer, as P2ppool/NoAlloc's application keeps no message:
	// each library's own cost per message, without the allocation the
	// application makes for it.
	b.Run("QueuedNoAlloc", func(b *testing.B) { benchLibp2pQueued(b, readFramesReused) })
	b.Run("Connect", benchLibp2pConnect)
}

// libp2pStream opens one libp2p connection and one yamux stream from h1 to
// h2, both ends ready: the writing stream and a 64 KiB bufio.Reader on the
// reading one. They are closed when the benchmark ends.
func libp2pStream(b *testing.B) (network.Stream, *bufio.Reader) {
	h1, h2 := hostPair(b)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	return openBlobStream(ctx, b, h1, h2)
}

// openBlobStream connects from to to (whose addresses from knows) and
// opens a stream of blobProto, both ends ready: the writing stream and a
// 64 KiB bufio.Reader on the reading one, reset when the benchmark ends.
func openBlobStream(ctx context.Context, b *testing.B, from, to host.Host) (network.Stream, *bufio.Reader) {
	streams := make(chan network.Stream, 1)
	to.SetStreamHandler(blobProto, func(s network.Stream) { streams <- s })
	if err := from.Connect(ctx, peer.AddrInfo{ID: to.ID()}); err != nil {
		b.Fatalf("connect: %v", err)
	}
	s, err := from.NewStream(ctx, to.ID(), blobProto)
	if err != nil {
		b.Fatalf("new stream: %v", err)
	}
	b.Cleanup(func() { s.Reset() })
	// The protocol header goes out with the first write (lazy
	// multistream-select), and only then does the other side call its
	// handler: write one empty message to get the stream there.
	var hdr [4]byte
	if _, err := s.Write(hdr[:]); err != nil {
		b.Fatal(err)
	}
	var rs network.Stream
	select {
	case rs = <-streams:
	case <-ctx.Done():
		b.Fatal("stream handler not called")
	}
	b.Cleanup(func() { rs.Reset() })
	r := bufio.NewReaderSize(rs, bufSize)
	if err := readFrames(r, nil, 1); err != nil {
		b.Fatal(err)
	}
	return s, r
}

// benchLibp2pThroughput ("buffered"): one libp2p connection and one yamux
// stream, opened once (outside the timer) and shared by all sizes and all
// runs. Per iteration the sender writes one message (4-byte length +
// payload) into a 64 KiB bufio.Writer, which goes out as a Write on the
// stream whenever it fills, plus one Flush at the end of the batch; the
// receiver, on its own goroutine, reads b.N messages with io.ReadFull from
// a 64 KiB bufio.Reader into one reused buffer. The clock stops when the
// receiver has the last message. b.SetBytes counts the payload only. The
// fastest way to push bytes through libp2p, but not the semantics of a
// pool: the sender owns the buffer, nothing is queued, and the receiver
// keeps no message.
func benchLibp2pThroughput(b *testing.B) {
	s, r := libp2pStream(b)
	w := bufio.NewWriterSize(s, bufSize)
	fw := &frameWriter{w: w}
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			payload := pattern(sz.n)
			buf := make([]byte, sz.n)
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			done := make(chan error, 1)
			b.ResetTimer()
			go func() { done <- readFrames(r, buf, b.N) }()
			for i := 0; i < b.N; i++ {
				if err := fw.put(payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchLibp2pWritePerMsg: what most code does, one Stream.Write per
// message (the 4-byte length and the payload in one buffer, built once);
// the receiver parses each message into its own []byte.
func benchLibp2pWritePerMsg(b *testing.B) {
	s, r := libp2pStream(b)
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			frame := binary.BigEndian.AppendUint32(nil, uint32(sz.n))
			frame = append(frame, pattern(sz.n)...)
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			done := make(chan error, 1)
			b.ResetTimer()
			go func() { done <- readOwnedFrames(r, sz.n, b.N) }()
			for i := 0; i < b.N; i++ {
				if _, err := s.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchLibp2pQueued: the semantics of p2ppool's Write and Read on libp2p,
// its strongest fair configuration. Write puts the message on a bounded
// channel (1,024 messages) and returns; a writer goroutine drains the
// channel into a 64 KiB bufio.Writer and flushes whenever the channel is
// empty; the receiver parses each length-prefixed message with read
// (readOwnedFrames: each into its own []byte, as Read returns one).
func benchLibp2pQueued(b *testing.B, read func(r *bufio.Reader, size, n int) error) {
	s, r := libp2pStream(b)
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			payload := pattern(sz.n)
			queue := make(chan []byte, 1024)
			written := make(chan error, 1)
			go func() {
				fw := &frameWriter{w: bufio.NewWriterSize(s, bufSize)}
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
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			done := make(chan error, 1)
			b.ResetTimer()
			cpu0 := cpuTime()
			io0 := readSysIO()
			go func() { done <- read(r, sz.n, b.N) }()
			for i := 0; i < b.N; i++ {
				queue <- payload
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			reportCPU(b, cpu0)
			reportSysIO(b, io0)
			b.StopTimer()
			close(queue)
			if err := <-written; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// readFramesReused is readOwnedFrames reading every message into one
// reused buffer (readFrames).
func readFramesReused(r *bufio.Reader, size, n int) error {
	return readFrames(r, make([]byte, size), n)
}

// readOwnedFrames reads n length-prefixed messages from r, each into a
// new []byte of its length, and checks each length.
func readOwnedFrames(r *bufio.Reader, size, n int) error {
	var hdr [4]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("message %d header: %w", i, err)
		}
		l := int(binary.BigEndian.Uint32(hdr[:]))
		if l != size {
			return fmt.Errorf("message %d: length %d, want %d", i, l, size)
		}
		m := make([]byte, l)
		if _, err := io.ReadFull(r, m); err != nil {
			return fmt.Errorf("message %d body: %w", i, err)
		}
	}
	return nil
}

// pattern is a payload of n bytes that are not all zero.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

// benchLibp2pConnect: per iteration, with h2's addresses already in h1's
// peerstore, h1.Connect (TCP connect, multistream-select of Noise, the
// Noise XX handshake carrying the yamux choice as an early-muxer
// extension, and identify in both directions, which Connect waits for),
// then NewStream on an echo protocol and a 1-byte round trip (the protocol
// header goes out with that byte), then closing the connection
// (ClosePeer). Each iteration is a new TCP connection.
func benchLibp2pConnect(b *testing.B) {
	h1, h2 := hostPair(b)
	h2.SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		var one [1]byte
		if _, err := io.ReadFull(s, one[:]); err != nil {
			s.Reset()
			return
		}
		if _, err := s.Write(one[:]); err != nil {
			s.Reset()
		}
	})
	ctx := context.Background()
	pi := peer.AddrInfo{ID: h2.ID()}

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := libp2pRoundTrip(ctx, h1, pi, byte(i)); err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
		if err := h1.Network().ClosePeer(h2.ID()); err != nil {
			b.Fatalf("close peer: %v", err)
		}
	}
	reportCPU(b, cpu0)
}

func libp2pRoundTrip(ctx context.Context, h host.Host, pi peer.AddrInfo, v byte) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := h.Connect(ctx, pi); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s, err := h.NewStream(ctx, pi.ID, echoProto)
	if err != nil {
		return fmt.Errorf("new stream: %w", err)
	}
	defer s.Close()
	one := [1]byte{v}
	if _, err := s.Write(one[:]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(s, one[:]); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if one[0] != v {
		return errors.New("echo mismatch")
	}
	return nil
}
