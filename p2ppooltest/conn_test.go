package p2ppooltest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of a Conn's socket semantics. Those that need no fault run twice:
// inside a synctest bubble and over real time (clocks), so the network is
// known to work both ways.

// clocks runs f inside a synctest bubble and over real time.
func clocks(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	t.Run("synctest", func(t *testing.T) { synctest.Test(t, f) })
	t.Run("realtime", f)
}

// pair dials a connection from host 10.0.0.1 to a listener of host
// 10.0.0.2 on nw and returns the dialled and the accepted end.
func pair(t testing.TB, nw *Network) (client, server *Conn) {
	t.Helper()
	ln, err := nw.Host("10.0.0.2").Listen("tcp", ":0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	nc, err := nw.Host("10.0.0.1").DialContext(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	sc, err := ln.Accept()
	require.NoError(t, err)
	client, server = nc.(*Conn), sc.(*Conn)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// goRead reads from c into a buffer of size n on another goroutine.
func goRead(c net.Conn, n int) <-chan ioResult {
	res := make(chan ioResult, 1)
	go func() {
		b := make([]byte, n)
		k, err := c.Read(b)
		res <- ioResult{b[:k], k, err}
	}()
	return res
}

// goWrite writes b to c on another goroutine.
func goWrite(c net.Conn, b []byte) <-chan ioResult {
	res := make(chan ioResult, 1)
	go func() {
		k, err := c.Write(b)
		res <- ioResult{nil, k, err}
	}()
	return res
}

type ioResult struct {
	b   []byte
	n   int
	err error
}

// await receives the result of a call that must have returned or be about
// to: within the bubble synctest.Wait has already settled it; over real
// time it comes promptly.
func await(t testing.TB, ch <-chan ioResult, what string) ioResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		return ioResult{}
	}
}

// blocked asserts that the call behind ch has not returned.
func blocked(t testing.TB, ch <-chan ioResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned (%d, %v); it should block", what, r.n, r.err)
	default:
	}
}

// settle lets the other goroutines run until they block: synctest.Wait in a
// bubble, a short real pause otherwise (used only to give a call the chance
// to return wrongly, never to make a correct one pass).
func settle() {
	defer func() {
		if recover() != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	synctest.Wait()
}

func TestConnAddresses(t *testing.T) {
	nw := NewNetwork(Config{})
	for _, tc := range []struct{ client, server string }{
		{"192.0.2.1", "192.0.2.200"},
		{"2001:db8::1", "2001:db8:1::7"},
	} {
		ln, err := nw.Host(tc.server).Listen("tcp", ":0")
		require.NoError(t, err)
		lap := ln.Addr().(*net.TCPAddr).AddrPort()
		assert.Equal(t, netip.MustParseAddr(tc.server), lap.Addr())
		assert.NotZero(t, lap.Port())

		nc, err := nw.Host(tc.client).DialContext(context.Background(), "tcp", lap.String())
		require.NoError(t, err)
		sc, err := ln.Accept()
		require.NoError(t, err)
		local := nc.LocalAddr().(*net.TCPAddr).AddrPort()
		assert.Equal(t, netip.MustParseAddr(tc.client), local.Addr(), "dials come from the host's address")
		assert.Equal(t, lap, nc.RemoteAddr().(*net.TCPAddr).AddrPort())
		assert.Equal(t, local, sc.RemoteAddr().(*net.TCPAddr).AddrPort())
		assert.Equal(t, lap, sc.LocalAddr().(*net.TCPAddr).AddrPort())

		found, ok := nw.Lookup(lap, local)
		require.True(t, ok)
		assert.Same(t, sc, found)
		assert.Same(t, nc, found.Peer())

		require.NoError(t, nc.Close())
		require.NoError(t, sc.Close())
		require.NoError(t, ln.Close())
		_, ok = nw.Lookup(lap, local)
		assert.False(t, ok, "closed ends leave the tables")
	}
	// The same address is the same host; NewHost never reuses one.
	assert.Same(t, nw.Host("192.0.2.1"), nw.Host("::ffff:192.0.2.1"))
	a, b := nw.NewHost(), nw.NewHost()
	assert.NotEqual(t, netip.PrefixFrom(a.Addr(), 24).Masked(), netip.PrefixFrom(b.Addr(), 24).Masked())
}

func TestConnDataBothWays(t *testing.T) {
	clocks(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 1000}))
		// More than the buffer each way, at once: each side's writer
		// waits for the other side's reader.
		want := bytes.Repeat([]byte("0123456789abcdef"), 1000)
		for _, ends := range [][2]*Conn{{c, s}, {s, c}} {
			w := goWrite(ends[0], want)
			got, err := io.ReadAll(io.LimitReader(ends[1], int64(len(want))))
			require.NoError(t, err)
			assert.Equal(t, want, got)
			r := await(t, w, "Write")
			require.NoError(t, r.err)
			assert.Equal(t, len(want), r.n)
		}
	})
}

func TestConnBufferStallsWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 4096
		c, s := pair(t, NewNetwork(Config{BufferSize: size}))
		w := goWrite(c, make([]byte, 3*size))
		synctest.Wait()
		blocked(t, w, "Write into a full buffer")
		assert.Equal(t, size, c.Unread(), "the writer stops at the buffer's size")

		// Each read makes room for as much more.
		b := make([]byte, 1000)
		n, err := io.ReadFull(s, b)
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, size, c.Unread(), "the writer filled the room the read made")
		_, err = io.ReadFull(s, make([]byte, 2*size-n))
		require.NoError(t, err)
		r := await(t, w, "Write")
		require.NoError(t, r.err)
		assert.Equal(t, 3*size, r.n)
	})
}

func TestConnDeadlines(t *testing.T) {
	clocks(t, func(t *testing.T) {
		const d = 30 * time.Millisecond
		c, s := pair(t, NewNetwork(Config{BufferSize: 100}))
		isTimeout := func(t *testing.T, err error) {
			t.Helper()
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
		}

		// A waiting Read times out at its deadline, not before.
		start := time.Now()
		require.NoError(t, c.SetReadDeadline(start.Add(d)))
		_, err := c.Read(make([]byte, 1))
		isTimeout(t, err)
		assert.GreaterOrEqual(t, time.Since(start), d)
		// It stays timed out, even with data there, until moved.
		_, err = s.Write([]byte("x"))
		require.NoError(t, err)
		_, err = c.Read(make([]byte, 1))
		isTimeout(t, err)
		require.NoError(t, c.SetReadDeadline(time.Time{}))
		n, err := c.Read(make([]byte, 1))
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		// Moving the deadline into the past wakes a waiting Read; moving
		// it later keeps it waiting.
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Hour)))
		r := goRead(c, 1)
		settle()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Hour)))
		settle()
		blocked(t, r, "Read before its deadline")
		require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
		isTimeout(t, await(t, r, "Read").err)

		// A Write blocked on a full buffer times out and says how much it
		// wrote.
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(d)))
		n, err = c.Write(make([]byte, 250))
		isTimeout(t, err)
		assert.Equal(t, 100, n)
		// SetDeadline sets both.
		require.NoError(t, s.SetDeadline(time.Now().Add(-time.Second)))
		_, err = s.Read(make([]byte, 1))
		isTimeout(t, err)
		_, err = s.Write([]byte("y"))
		isTimeout(t, err)
	})
}

// TestConnDeadlineMovedLater: a deadline moved later before it passes
// times a Read out at the new one, to the instant (the bubble's clock),
// also when it is moved a nanosecond before the old one would pass.
func TestConnDeadlineMovedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pair(t, NewNetwork(Config{}))
		start := time.Now()
		require.NoError(t, c.SetReadDeadline(start.Add(time.Second)))
		r := goRead(c, 1)
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, c.SetReadDeadline(start.Add(3*time.Second)))
		res := <-r
		require.ErrorIs(t, res.err, os.ErrDeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))

		// Moved a nanosecond before the old one would pass: nothing of
		// the old setting ends the Read.
		start = time.Now()
		require.NoError(t, c.SetReadDeadline(start.Add(time.Second)))
		r = goRead(c, 1)
		time.Sleep(time.Second - time.Nanosecond)
		require.NoError(t, c.SetReadDeadline(start.Add(2*time.Second)))
		res = <-r
		require.ErrorIs(t, res.err, os.ErrDeadlineExceeded)
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestConnClose(t *testing.T) {
	clocks(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{}))
		r := goRead(c, 10)
		w := goRead(s, 10) // a read of the other end, to be ended by EOF
		_, err := c.Write([]byte("last"))
		require.NoError(t, err)
		settle()
		require.NoError(t, c.Close())

		// This end's waiting and later calls fail with net.ErrClosed.
		require.ErrorIs(t, await(t, r, "Read").err, net.ErrClosed)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, c.Close(), net.ErrClosed, "Close twice")
		require.ErrorIs(t, c.SetDeadline(time.Now()), net.ErrClosed)

		// The peer reads what was written, then EOF; its writes fail.
		got := await(t, w, "peer's Read")
		require.NoError(t, got.err)
		assert.Equal(t, "last", string(got.b))
		_, err = s.Read(make([]byte, 10))
		assert.Equal(t, io.EOF, err)
		// Its next write is lost; the reset it provokes fails the one
		// after.
		n, err := s.Write([]byte("lost"))
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		_, err = s.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)
	})
}

func TestConnCloseWrite(t *testing.T) {
	clocks(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{}))
		_, err := c.Write([]byte("request"))
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)

		got, err := io.ReadAll(s)
		require.NoError(t, err)
		assert.Equal(t, "request", string(got))
		// The other direction still works.
		_, err = s.Write([]byte("reply"))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		got, err = io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "reply", string(got))
	})
}

func TestConnReset(t *testing.T) {
	clocks(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 10}))
		r := goRead(c, 10)                // waits for data
		w := goWrite(c, make([]byte, 50)) // fills s's buffer, waits for room
		settle()
		c.Reset()
		for _, res := range []ioResult{await(t, r, "Read"), await(t, w, "Write")} {
			require.ErrorIs(t, res.err, syscall.ECONNRESET)
			var oe *net.OpError
			require.ErrorAs(t, res.err, &oe)
		}
		// The bytes in flight are gone; every later call fails too.
		_, err := s.Read(make([]byte, 10))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = c.Read(make([]byte, 10))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = s.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		require.NoError(t, c.Close())
		_, err = c.Read(make([]byte, 10))
		require.ErrorIs(t, err, net.ErrClosed, "a closed end says so first")
	})
}

func TestDialAndListenErrors(t *testing.T) {
	clocks(t, func(t *testing.T) {
		nw := NewNetwork(Config{Backlog: 1})
		a, b := nw.Host("192.0.2.1"), nw.Host("192.0.2.2")
		ctx := context.Background()

		_, err := a.DialContext(ctx, "tcp", "192.0.2.2:9732")
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "nothing listens")
		_, err = a.DialContext(ctx, "udp", "192.0.2.2:9732")
		var unknown net.UnknownNetworkError
		require.ErrorAs(t, err, &unknown)
		_, err = a.DialContext(ctx, "tcp", "no-such-host:1")
		require.Error(t, err)
		var ae *net.AddrError
		_, err = a.DialContext(ctx, "tcp6", "192.0.2.2:9732")
		require.ErrorAs(t, err, &ae)
		_, err = nw.Host("2001:db8::1").Listen("tcp4", ":1")
		require.ErrorAs(t, err, &ae)

		ln, err := b.Listen("tcp", "192.0.2.2:9732")
		require.NoError(t, err)
		_, err = b.Listen("tcp", ":9732")
		require.ErrorIs(t, err, syscall.EADDRINUSE)
		_, err = b.Listen("tcp", "192.0.2.1:9733")
		require.ErrorIs(t, err, syscall.EADDRNOTAVAIL, "another host's address")

		// The backlog holds one connection; the next dial waits for room
		// or for its context.
		first, err := a.DialContext(ctx, "tcp", "192.0.2.2:9732")
		require.NoError(t, err)
		defer first.Close()
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err = a.DialContext(short, "tcp", "192.0.2.2:9732")
		require.ErrorIs(t, err, context.DeadlineExceeded)

		// Closing the listener resets what it had not accepted and frees
		// the port.
		require.NoError(t, ln.Close())
		_, err = first.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = ln.Accept()
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, ln.Close(), net.ErrClosed)
		_, err = a.DialContext(ctx, "tcp", "192.0.2.2:9732")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		ln, err = b.Listen("tcp", ":9732")
		require.NoError(t, err)
		require.NoError(t, ln.Close())
	})
}

func TestAcceptWaitsAndCloseWakesIt(t *testing.T) {
	clocks(t, func(t *testing.T) {
		nw := NewNetwork(Config{})
		ln, err := nw.Host("192.0.2.2").Listen("tcp", ":1")
		require.NoError(t, err)
		res := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			res <- err
		}()
		settle()
		select {
		case err := <-res:
			t.Fatalf("Accept returned %v with nothing to accept", err)
		default:
		}
		require.NoError(t, ln.Close())
		require.ErrorIs(t, <-res, net.ErrClosed)
	})
}

// TestConnConcurrentUse runs a reader, a writer and deadline changes on
// both ends at once, for the race detector: every call keeps its
// guarantees whatever the interleaving.
func TestConnConcurrentUse(t *testing.T) {
	clocks(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 64}))
		const total = 20000
		msg := make([]byte, total)
		for i := range msg {
			msg[i] = byte(i)
		}
		done := make(chan error, 4)
		for _, ends := range [][2]*Conn{{c, s}, {s, c}} {
			go func() { _, err := ends[0].Write(msg); done <- err }()
			go func() {
				got, err := io.ReadAll(io.LimitReader(ends[1], total))
				if err == nil && !bytes.Equal(got, msg) {
					err = errors.New("bytes differ")
				}
				done <- err
			}()
		}
		for range 100 {
			require.NoError(t, c.SetDeadline(time.Now().Add(time.Hour)))
			require.NoError(t, s.SetReadDeadline(time.Time{}))
		}
		for range 4 {
			require.NoError(t, <-done)
		}
	})
}

// TestResetBeatsTheEOFItCauses: an end that closes because of a reset must
// not make its peer see an EOF instead of the reset. Each round races the
// two; a Reset that told its two directions one after the other failed
// some rounds.
func TestResetBeatsTheEOFItCauses(t *testing.T) {
	nw := NewNetwork(Config{})
	for range 200 {
		c, s := pair(t, nw)
		closer := make(chan error, 1)
		go func() {
			// c reads, and closes when its read fails, as a pool does.
			_, err := c.Read(make([]byte, 1))
			c.Close()
			closer <- err
		}()
		other := goRead(s, 1)
		c.Reset()
		require.ErrorIs(t, <-closer, syscall.ECONNRESET)
		require.ErrorIs(t, await(t, other, "s's Read").err, syscall.ECONNRESET)
		s.Close()
	}
}
