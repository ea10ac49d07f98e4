package sched

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeConn is an in-memory net.Conn that copies what it is given, as a
// write into a socket buffer does, and reads from a constant source: the
// cheapest connection a wrapper can sit on, so the one where its overhead
// shows most.
type fakeConn struct {
	buf [64 << 10]byte
}

func (f *fakeConn) Read(p []byte) (int, error)       { return copy(p, f.buf[:]), nil }
func (f *fakeConn) Write(p []byte) (int, error)      { copy(f.buf[:], p); return len(p), nil }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return nil }
func (f *fakeConn) RemoteAddr() net.Addr             { return nil }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// drainedPipe returns one end of a net.Pipe whose other end is read and
// discarded, and a function that closes both and waits for the reader.
func drainedPipe() (net.Conn, func()) {
	a, b := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, b) })
	return a, func() { a.Close(); b.Close(); wg.Wait() }
}

// drainedTCP returns a loopback TCP connection whose other end is read and
// discarded.
func drainedTCP(b *testing.B) (net.Conn, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Skip("no loopback:", err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	p, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, p) })
	return c, func() { c.Close(); p.Close(); wg.Wait() }
}

// BenchmarkWrapperOverhead compares writes on a plain connection with the
// same writes through a Conn of a Scheduler with no limit ("wrapped"), and
// with limits too high to bind ("limited": the cost of the bookkeeping
// alone), for 100-byte and 64 KiB writes on a copying fake connection, a
// net.Pipe and loopback TCP. "read" rows do the same for reads on the fake.
func BenchmarkWrapperOverhead(b *testing.B) {
	high := Limits{MaxOutflow: 1 << 50, MaxInflow: 1 << 50}
	for _, size := range []int{100, 64 << 10} {
		for _, kind := range []string{"fake", "pipe", "tcp", "read"} {
			for _, mode := range []string{"plain", "wrapped", "limited"} {
				b.Run(fmt.Sprintf("%s/%dB/%s", kind, size, mode), func(b *testing.B) {
					var nc net.Conn = &fakeConn{}
					stop := func() {}
					switch kind {
					case "pipe":
						nc, stop = drainedPipe()
					case "tcp":
						nc, stop = drainedTCP(b)
					}
					defer stop()
					if mode != "plain" {
						var cfg Config
						if mode == "limited" {
							cfg.Limits = high
						}
						s, err := New(cfg)
						if err != nil {
							b.Fatal(err)
						}
						defer s.Close()
						c := s.Wrap(nc)
						defer c.Close()
						nc = c
					}
					buf := make([]byte, size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					if kind == "read" {
						for b.Loop() {
							nc.Read(buf)
						}
						return
					}
					for b.Loop() {
						nc.Write(buf)
					}
				})
			}
		}
	}
}

// BenchmarkContendedLimiter measures the limited path with many
// connections writing concurrently under a global limit that does not bind:
// the cost of the shared limiter mutex.
func BenchmarkContendedLimiter(b *testing.B) {
	s, err := New(Config{Limits: Limits{MaxOutflow: 1 << 50}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(16 << 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := s.Wrap(&fakeConn{})
		defer c.Close()
		buf := make([]byte, 16<<10)
		for pb.Next() {
			c.Write(buf)
		}
	})
}
