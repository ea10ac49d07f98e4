package bench

import (
	"context"
	"io"
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
	ln, err := p2ppool.ListenConfig().Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
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
