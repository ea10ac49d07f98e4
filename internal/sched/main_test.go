package sched

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the
// ticker must be gone once Close returns, and wrapping a connection must
// start none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newSched returns a scheduler; the caller must Close it (inside a
// synctest bubble, before the bubble's function returns).
func newSched(t testing.TB, cfg Config) *Scheduler {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

// rig holds wrapped pipe ends and the goroutines serving their peers.
type rig struct {
	wg    sync.WaitGroup
	conns []*Conn
	peers []net.Conn
}

// drained wraps one end of a net.Pipe whose other end is read and
// discarded until closed, as a fast peer would.
func (r *rig) drained(s *Scheduler) *Conn {
	a, b := net.Pipe()
	c := s.Wrap(a)
	r.conns = append(r.conns, c)
	r.peers = append(r.peers, b)
	r.wg.Go(func() { io.Copy(io.Discard, b) })
	return c
}

// fed wraps one end of a net.Pipe whose other end writes as fast as the
// wrapped end reads, until closed.
func (r *rig) fed(s *Scheduler) *Conn {
	a, b := net.Pipe()
	c := s.Wrap(a)
	r.conns = append(r.conns, c)
	r.peers = append(r.peers, b)
	r.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	})
	return c
}

// close closes every connection and peer, and waits for the goroutines.
func (r *rig) close() {
	for _, c := range r.conns {
		c.Close()
	}
	for _, p := range r.peers {
		p.Close()
	}
	r.wg.Wait()
}

// writeLoop writes size-byte buffers to c until a write fails.
func (r *rig) writeLoop(c *Conn, size int) {
	r.wg.Go(func() {
		buf := make([]byte, size)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}

// readLoop reads c with a size-byte buffer until a read fails.
func (r *rig) readLoop(c *Conn, size int) {
	r.wg.Go(func() {
		buf := make([]byte, size)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}
