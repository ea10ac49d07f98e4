package bench

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/p2ppool/p2ppool"
	"golang.org/x/crypto/nacl/box"
)

// BenchmarkSealCeiling is the crypto ceiling of BenchmarkP2ppool's
// throughput: the raw NaCl box seal rate (XSalsa20-Poly1305 with a
// precomputed key, what octez's chunks use) for the same message sizes,
// each message plus its 6-byte envelope cut into 65,517-byte chunks as the
// pool does, with no I/O and no opening.
func BenchmarkSealCeiling(b *testing.B) {
	var key [32]byte
	for _, sz := range sizes {
		size := sz.n
		b.Run(sz.name, func(b *testing.B) {
			plain := make([]byte, size+6)
			out := make([]byte, 0, size+6+2*box.Overhead+64)
			var nonce [24]byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				out = out[:0]
				for m := plain; len(m) > 0; {
					piece := m[:min(len(m), 65517)]
					m = m[len(piece):]
					out = box.SealAfterPrecomputation(out, piece, &nonce, &key)
					nonce[23]++
				}
			}
		})
	}
}

// BenchmarkConnectCeiling is the socket ceiling of the Connect
// benchmarks: per iteration a new loopback TCP connection with octez's
// socket options (p2ppool.NewDialer, p2ppool.ListenConfig) that carries
// the same bytes as BenchmarkP2ppool/Connect, in the same order, with no
// cryptography, no pool and one goroutine per end: both ends write a
// 105-byte connection message and read the other's, then a 39-byte
// metadata-and-ack (p2ppool's two-exchange handshake), then the client
// sends a 25-byte chunk that the server echoes, and both close. It is
// what the system calls and Go's poller cost, which no Go implementation
// of octez's handshake over TCP avoids.
func BenchmarkConnectCeiling(b *testing.B) {
	ctx := context.Background()
	ln := ceilingListen(b)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				var buf [128]byte
				for _, n := range []int{105, 39} {
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
					if _, err := io.ReadFull(c, buf[:n]); err != nil {
						return
					}
				}
				if _, err := io.ReadFull(c, buf[:25]); err != nil {
					return
				}
				if _, err := c.Write(buf[:25]); err != nil {
					return
				}
				c.Read(buf[:]) // the client's close
			}()
		}
	}()
	d := p2ppool.NewDialer()
	addr := ln.Addr().String()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		var buf [128]byte
		for _, n := range []int{105, 39} {
			if _, err := c.Write(buf[:n]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf[:n]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := c.Write(buf[:25]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:25]); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	reportCPU(b, cpu0)
}

// BenchmarkConnectDesignCeiling is BenchmarkConnectCeiling with the
// goroutines of p2ppool's design and of BenchmarkP2ppool/Connect's
// harness, and still no cryptography and no pool: after the handshake's
// bytes (the client's on its caller, the server's on the goroutine its
// accept loop starts), each end starts a reader goroutine that hands
// what it reads to the application through a channel, and a write
// starts a writer goroutine that writes what is queued and exits; the
// server's new-connection hook starts the application's echo goroutine;
// the client's close waits for its reader to exit, as Disconnect waits
// for the teardown; and two clients take turns, each waiting until the
// server has seen its previous connection end. It says what those
// hand-offs cost on their own: how fast any implementation of this
// design could connect on this machine.
func BenchmarkConnectDesignCeiling(b *testing.B) {
	const nclients = 2
	ctx := context.Background()
	ln := ceilingListen(b)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	ended := make([]chan struct{}, nclients)
	for k := range ended {
		ended[k] = make(chan struct{}, 1)
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				var buf [128]byte
				if designHandshake(c, &buf) != nil {
					c.Close()
					return
				}
				k := int(buf[0]) // the client's index, in its connection message
				e := startDesignEnd(c, &wg)
				wg.Go(func() { // the hook's echo goroutine
					if m, ok := <-e.in; ok {
						e.write(m)
					}
					<-e.done
					c.Close()
					ended[k] <- struct{}{}
				})
			})
		}
	})
	d := p2ppool.NewDialer()
	addr := ln.Addr().String()
	busy := make([]bool, nclients)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		k := i % nclients
		if busy[k] {
			<-ended[k]
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		var buf [128]byte
		buf[0] = byte(k)
		if err := designHandshake(c, &buf); err != nil {
			c.Close() // so that the server's goroutine ends, and wg.Wait
			b.Fatal(err)
		}
		e := startDesignEnd(c, &wg)
		m := make([]byte, 25)
		m[2] = byte(i)
		e.write(m)
		if _, ok := <-e.in; !ok {
			c.Close()
			b.Fatal("no echo")
		}
		c.Close()
		<-e.done
		busy[k] = true
	}
	reportCPU(b, cpu0)
	for k := range busy {
		if busy[k] {
			<-ended[k]
		}
	}
}

// ceilingListen listens on loopback with octez's socket options
// (p2ppool.ListenConfig), as the pools of the Connect benchmarks do.
func ceilingListen(b *testing.B) net.Listener {
	ln, err := p2ppool.ListenConfig().Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// designHandshake writes and reads the bytes of p2ppool's handshake: a
// 105-byte connection message each way, then a 39-byte metadata and ack.
// buf[0] goes out first; the peer's connection message is left in buf.
func designHandshake(c net.Conn, buf *[128]byte) error {
	var in [128]byte
	for j, n := range []int{105, 39} {
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, in[:n]); err != nil {
			return err
		}
		if j == 0 {
			*buf = in
		}
	}
	return nil
}

// designEnd is a connection end with p2ppool's goroutines: a reader that
// hands each 25-byte chunk to the application (in) and exits at the
// first error (closing done), and a writer started by a write when none
// runs.
type designEnd struct {
	c    net.Conn
	wg   *sync.WaitGroup
	in   chan []byte
	done chan struct{}

	mu      sync.Mutex
	out     [][]byte
	writing bool
}

func startDesignEnd(c net.Conn, wg *sync.WaitGroup) *designEnd {
	e := &designEnd{c: c, wg: wg, in: make(chan []byte, 10), done: make(chan struct{})}
	wg.Go(func() {
		defer close(e.done)
		defer close(e.in)
		for {
			m := make([]byte, 25)
			if _, err := io.ReadFull(c, m); err != nil {
				return
			}
			e.in <- m
		}
	})
	return e
}

func (e *designEnd) write(m []byte) {
	e.mu.Lock()
	e.out = append(e.out, m)
	start := !e.writing
	e.writing = true
	e.mu.Unlock()
	if start {
		e.wg.Go(e.writer)
	}
}

func (e *designEnd) writer() {
	for {
		e.mu.Lock()
		batch := e.out
		e.out = nil
		if len(batch) == 0 {
			e.writing = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		for _, m := range batch {
			if _, err := e.c.Write(m); err != nil {
				return // the reader sees the connection end
			}
		}
	}
}
