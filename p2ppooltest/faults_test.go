package p2ppooltest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of fault injection. They run in synctest bubbles, where the clock
// moves only when every goroutine is blocked, so the times they check are
// exact.

// readFull reads n bytes from c and returns when the last arrived.
func readFull(t testing.TB, c net.Conn, n int) time.Time {
	t.Helper()
	_, err := io.ReadFull(c, make([]byte, n))
	require.NoError(t, err)
	return time.Now()
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{}))
		c.SetFaults(Faults{Latency: 40 * time.Millisecond})
		start := time.Now()
		_, err := c.Write([]byte("ab"))
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond)
		_, err = c.Write([]byte("cd"))
		require.NoError(t, err)

		b := make([]byte, 10)
		n, err := s.Read(b)
		require.NoError(t, err)
		assert.Equal(t, "ab", string(b[:n]), "the second write has not arrived yet")
		assert.Equal(t, 40*time.Millisecond, time.Since(start))
		n, err = s.Read(b)
		require.NoError(t, err)
		assert.Equal(t, "cd", string(b[:n]))
		assert.Equal(t, 50*time.Millisecond, time.Since(start))

		// The other direction is healthy; the end of the stream is late too.
		_, err = s.Write([]byte("x"))
		require.NoError(t, err)
		assert.Equal(t, time.Now(), readFull(t, c, 1))
		start = time.Now()
		require.NoError(t, c.Close())
		_, err = s.Read(b)
		assert.Equal(t, io.EOF, err)
		assert.Equal(t, 40*time.Millisecond, time.Since(start))
	})
}

func TestLatencyKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{}))
		start := time.Now()
		c.SetFaults(Faults{Latency: 100 * time.Millisecond})
		_, err := c.Write([]byte("a"))
		require.NoError(t, err)
		// Lowering the latency does not let later bytes overtake.
		c.SetFaults(Faults{})
		_, err = c.Write([]byte("b"))
		require.NoError(t, err)
		b := make([]byte, 2)
		_, err = io.ReadFull(s, b)
		require.NoError(t, err)
		assert.Equal(t, "ab", string(b))
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
	})
}

func TestBandwidth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 8 << 10}))
		c.SetFaults(Faults{Bandwidth: 10_000, Latency: 5 * time.Millisecond})
		const total = 50_000 // five seconds' worth
		start := time.Now()
		w := goWrite(c, make([]byte, total))
		end := readFull(t, s, total)
		require.NoError(t, (<-w).err)
		assert.Equal(t, 5*time.Second+5*time.Millisecond, end.Sub(start))
		// At most one buffer ahead: the writer was held back.
		assert.Zero(t, c.Unread())
	})
}

func TestSlowReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 1000}))
		c.SetFaults(Faults{ReadRate: 500})
		start := time.Now()
		w := goWrite(c, make([]byte, 3000))
		synctest.Wait()
		assert.Equal(t, 1000, c.Unread(), "the writer fills the buffer and waits")
		b := make([]byte, 3000)
		n, err := s.Read(b)
		require.NoError(t, err)
		assert.Equal(t, 10, n, "a read takes a fiftieth of a second's worth")
		got := n
		for got < 3000 {
			n, err := s.Read(b)
			require.NoError(t, err)
			got += n
		}
		require.NoError(t, (<-w).err)
		// 3000 bytes at 500 B/s, the last slice taken at once.
		assert.Equal(t, 6*time.Second-20*time.Millisecond, time.Since(start))
	})
}

func TestStalledIsHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, NewNetwork(Config{BufferSize: 100}))
		c.SetFaults(Faults{Stalled: true})
		r := goRead(s, 10)
		w := goWrite(c, make([]byte, 250))
		synctest.Wait()
		blocked(t, r, "Read of a stalled direction")
		blocked(t, w, "Write into a stalled direction")
		assert.Equal(t, 100, c.Unread())
		// The other direction still flows.
		_, err := s.Write([]byte("pong"))
		require.NoError(t, err)
		readFull(t, c, 4)
		// A write deadline frees the sender, as a pool's would.
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
		res := <-w
		require.ErrorIs(t, res.err, os.ErrDeadlineExceeded)
		assert.Equal(t, 100, res.n)
		// Clearing the stall delivers what waited, in order.
		c.SetFaults(Faults{})
		got := <-r
		require.NoError(t, got.err)
		assert.Equal(t, 10, got.n)
		readFull(t, s, 90)
	})
}

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := NewNetwork(Config{})
		a, b, other := nw.Host("192.0.2.1"), nw.Host("192.0.2.2"), nw.Host("192.0.2.3")
		ln, err := b.Listen("tcp", ":9732")
		require.NoError(t, err)
		defer ln.Close()
		dial := func(h *Host) (*Conn, *Conn, error) {
			nc, err := h.DialContext(context.Background(), "tcp", "192.0.2.2:9732")
			if err != nil {
				return nil, nil, err
			}
			sc, err := ln.Accept()
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close(); sc.Close() })
			return nc.(*Conn), sc.(*Conn), nil
		}
		ac, bc, err := dial(a)
		require.NoError(t, err)

		nw.Partition(a, b)
		_, _, err = dial(a)
		require.ErrorIs(t, err, syscall.EHOSTUNREACH)
		// Other hosts are not affected.
		oc, obc, err := dial(other)
		require.NoError(t, err)
		_, err = oc.Write([]byte("hi"))
		require.NoError(t, err)
		readFull(t, obc, 2)
		// Open connections stall both ways, and nobody is told.
		_, err = ac.Write([]byte("during"))
		require.NoError(t, err)
		_, err = bc.Write([]byte("cut"))
		require.NoError(t, err)
		r1, r2 := goRead(bc, 10), goRead(ac, 10)
		time.Sleep(time.Minute)
		synctest.Wait()
		blocked(t, r1, "Read across a partition")
		blocked(t, r2, "Read across a partition")

		nw.Heal(a, b)
		assert.Equal(t, "during", string((<-r1).b))
		assert.Equal(t, "cut", string((<-r2).b))
		_, _, err = dial(a)
		require.NoError(t, err)
	})
}

func TestHostPairFaultsAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := NewNetwork(Config{})
		a, b := nw.Host("192.0.2.1"), nw.Host("192.0.2.2")
		ln, err := b.Listen("tcp", ":9732")
		require.NoError(t, err)
		defer ln.Close()
		var conns [][2]*Conn
		dial := func() {
			nc, err := a.DialContext(context.Background(), "tcp", "192.0.2.2:9732")
			require.NoError(t, err)
			sc, err := ln.Accept()
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close(); sc.Close() })
			conns = append(conns, [2]*Conn{nc.(*Conn), sc.(*Conn)})
		}
		dial()
		nw.SetFaults(a, b, Faults{Latency: time.Second})
		dial()
		// Faults of the pair and of the connection add up.
		conns[1][0].SetFaults(Faults{Latency: time.Second})
		for i, want := range []time.Duration{time.Second, 2 * time.Second} {
			start := time.Now()
			_, err := conns[i][0].Write([]byte("x"))
			require.NoError(t, err)
			assert.Equal(t, want, readFull(t, conns[i][1], 1).Sub(start), "connection %d", i)
			// b to a is healthy.
			_, err = conns[i][1].Write([]byte("y"))
			require.NoError(t, err)
			assert.Equal(t, time.Now(), readFull(t, conns[i][0], 1))
		}

		assert.Equal(t, 2, nw.Reset(b, a))
		for _, cs := range conns {
			for _, c := range cs {
				_, err := c.Read(make([]byte, 1))
				require.ErrorIs(t, err, syscall.ECONNRESET)
			}
		}
	})
}

func TestFaultsAdd(t *testing.T) {
	f := Faults{Latency: time.Second, Bandwidth: 100, ReadRate: 0, Stalled: false}
	g := Faults{Latency: time.Millisecond, Bandwidth: 0, ReadRate: 7, Stalled: true}
	assert.Equal(t, Faults{Latency: time.Second + time.Millisecond, Bandwidth: 100, ReadRate: 7, Stalled: true}, f.add(g))
	assert.Equal(t, Faults{Bandwidth: 50}, Faults{Bandwidth: 100}.add(Faults{Bandwidth: 50}))
}

func TestCloseAcrossStallAndPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := NewNetwork(Config{BufferSize: 100})
		// A stalled reader that closes still resets the writer, as its
		// kernel does.
		c, s := pair(t, nw)
		c.SetFaults(Faults{Stalled: true})
		require.NoError(t, s.Close())
		_, err := c.Write([]byte("lost"))
		require.NoError(t, err)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)

		// Across a partition the writer learns nothing: its bytes wait
		// unacknowledged and it blocks, until the hosts heal.
		c, s = pair(t, nw)
		nw.Partition(nw.Host("10.0.0.1"), nw.Host("10.0.0.2"))
		_, err = c.Write(make([]byte, 60))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		w := goWrite(c, make([]byte, 60))
		synctest.Wait()
		blocked(t, w, "Write across a partition")
		assert.Equal(t, 100, c.Unread())
		nw.Heal(nw.Host("10.0.0.1"), nw.Host("10.0.0.2"))
		res := <-w
		require.NoError(t, res.err, "the write that meets the closed peer is lost")
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)
	})
}

// TestPathsAreDroppedWhenUnused: the network keeps a host pair's path
// (its faults and partition) only while a connection uses it or
// something is set on it, so that a long simulation whose nodes dial many
// hosts does not pile up one per pair ever dialled. What is set stays
// in force for connections to come.
func TestPathsAreDroppedWhenUnused(t *testing.T) {
	nw := NewNetwork(Config{})
	paths := func() int {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		return len(nw.paths)
	}
	server := nw.Host("192.0.2.100")
	ln, err := server.Listen("tcp", ":9732")
	require.NoError(t, err)
	defer ln.Close()
	dial := func(h *Host) (*Conn, *Conn) {
		nc, err := h.DialContext(context.Background(), "tcp", "192.0.2.100:9732")
		require.NoError(t, err)
		sc, err := ln.Accept()
		require.NoError(t, err)
		return nc.(*Conn), sc.(*Conn)
	}
	var hosts []*Host
	for i := range 20 {
		hosts = append(hosts, nw.Host(fmt.Sprintf("192.0.2.%d", i+1)))
	}
	for _, h := range hosts {
		c, s := dial(h)
		c2, s2 := dial(h)
		require.Equal(t, 2, paths(), "one path each way while the connections are open")
		require.NoError(t, c.Close())
		require.NoError(t, s.Close())
		require.NoError(t, s2.Close()) // the other order
		require.NoError(t, c2.Close())
	}
	assert.Equal(t, 0, paths(), "no path left once every connection closed")

	// A refused dial makes none.
	_, err = hosts[0].DialContext(context.Background(), "tcp", "192.0.2.100:1")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, 0, paths())

	// What is set is kept, and applies to the next connection.
	nw.Partition(hosts[0], server)
	assert.Equal(t, 2, paths())
	_, err = hosts[0].DialContext(context.Background(), "tcp", "192.0.2.100:9732")
	require.ErrorIs(t, err, syscall.EHOSTUNREACH)
	nw.Heal(hosts[0], server)
	assert.Equal(t, 0, paths(), "healed and unused")
	nw.SetFaults(hosts[1], server, Faults{Latency: time.Millisecond})
	c, s := dial(hosts[1])
	f, _ := c.out.path.watch()
	assert.Equal(t, time.Millisecond, f.Latency)
	require.NoError(t, c.Close())
	require.NoError(t, s.Close())
	assert.Equal(t, 1, paths(), "the faults set stay")
	nw.SetFaults(hosts[1], server, Faults{})
	assert.Equal(t, 0, paths())
}
