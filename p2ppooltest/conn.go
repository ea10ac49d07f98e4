package p2ppooltest

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one end of an in-memory connection, as [Host.DialContext] and
// a [Host]'s listener return it. It behaves as a TCP socket does:
//
//   - Each direction holds at most [Config.BufferSize] bytes that the
//     reader has not read; a Write blocks while they fill it.
//   - Deadlines work as net.Conn's: a Read or Write past its deadline,
//     including one already waiting, fails with an error that matches
//     os.ErrDeadlineExceeded and whose Timeout method reports true.
//   - Close ends this end: its pending and later calls fail with
//     net.ErrClosed; the peer reads what was written, then io.EOF. The
//     peer's next write succeeds, its bytes lost, and the writes after it
//     fail with syscall.EPIPE, as the reset that write provokes comes back.
//     Across a partition the peer learns nothing until the hosts heal.
//   - [Conn.CloseWrite] sends the end of the stream and keeps reading.
//   - [Conn.Reset] drops every byte in flight and fails both ends' calls
//     with an error matching syscall.ECONNRESET.
//
// Errors other than io.EOF are *net.OpError values, as the net package's.
// A Conn is safe for concurrent use: one Read and one Write at a time (as
// with any net.Conn, concurrent Reads interleave their bytes), and every
// other method from any goroutine.
type Conn struct {
	// Immutable after creation.
	nw            *Network
	owner         *Host // the dialling host, whose port this end took; nil for an accepted end
	local, remote *net.TCPAddr
	in, out       *pipe // what this end reads, and what it writes
	link          *link // shared with the peer
	peer          *Conn

	// rd and wd wake the waiters of in and out when they pass.
	rd, wd deadline
	// closed is set by Close before it takes the pipes' locks: a call
	// checks it under its pipe's lock, so it either sees it set or waits
	// on the channel Close's signal closes.
	closed atomic.Bool
}

var _ net.Conn = (*Conn)(nil)

// LocalAddr returns this end's address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Peer returns the other end of the connection.
func (c *Conn) Peer() *Conn { return c.peer }

func (c *Conn) localAP() netip.AddrPort  { return c.local.AddrPort() }
func (c *Conn) remoteAP() netip.AddrPort { return c.remote.AddrPort() }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// Read reads what the peer wrote and has arrived, waiting for some.
func (c *Conn) Read(b []byte) (int, error) {
	p := c.in
	for {
		p.mu.Lock()
		if c.closed.Load() {
			p.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rd.passed() {
			p.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		if c.link.reset.Load() {
			p.mu.Unlock()
			return 0, c.opError("read", os.NewSyscallError("read", syscall.ECONNRESET))
		}
		if len(b) == 0 {
			p.mu.Unlock()
			return 0, nil
		}
		f, pathChanged := p.faultsLocked()
		now := time.Now()
		var wake time.Time // when something may become readable without a signal
		if !f.Stalled {
			switch {
			case len(p.segs) > 0 && p.segs[0].at.After(now):
				wake = p.segs[0].at
			case len(p.segs) > 0 && f.ReadRate > 0 && p.nextRead.After(now):
				wake = p.nextRead
			case len(p.segs) > 0:
				limit := len(b)
				if f.ReadRate > 0 {
					limit = min(limit, max(1, f.ReadRate/50))
				}
				n := p.popLocked(b, limit, now)
				if f.ReadRate > 0 {
					p.nextRead = now.Add(bytesTime(n, f.ReadRate))
				}
				p.mu.Unlock()
				return n, nil
			case p.eof && p.eofAt.After(now):
				wake = p.eofAt
			case p.eof:
				p.mu.Unlock()
				return 0, io.EOF
			}
		}
		changed := p.waitLocked()
		p.mu.Unlock()
		c.wait(changed, pathChanged, nil, wake)
	}
}

// NotifyReadable lets a reader wait without a goroutine: it arranges
// for f to run once, on a goroutine of its own, when a Read may no longer
// wait (bytes or the end of the stream reach this end, or a Read would
// fail: Close, Reset, a read deadline that passes), and reports true.
// f may also run when nothing has arrived yet (the pipe changed in
// another way): the Read it makes then waits, as any Read does.
//
// It reports false, and arranges nothing, when a Read would not wait
// now, and when the wait would end with the clock rather than with a
// change: bytes already written that faults delay or throttle, a stalled
// direction, or faults on the hosts' pair. The caller then reads. A call
// replaces the f of an earlier one that has not run.
//
// A pool on this network uses it to park the reader of an idle
// connection, so that a simulation of many nodes holds no goroutine, and
// no stack, per idle connection.
func (c *Conn) NotifyReadable(f func()) bool {
	p := c.in
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closed.Load() || c.rd.passed() || c.link.reset.Load() {
		return false
	}
	faults, pathChanged := p.faultsLocked()
	if pathChanged != nil || faults.Stalled || faults.ReadRate > 0 || len(p.segs) > 0 || p.eof {
		return false
	}
	p.notify = f
	return true
}

// Write writes b, waiting for room in the buffer as long as it is full.
func (c *Conn) Write(b []byte) (int, error) {
	p := c.out
	n := 0
	for {
		p.mu.Lock()
		switch {
		case c.closed.Load():
			p.mu.Unlock()
			return n, c.opError("write", net.ErrClosed)
		case c.wd.passed():
			p.mu.Unlock()
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		switch {
		case c.link.reset.Load():
			p.mu.Unlock()
			return n, c.opError("write", os.NewSyscallError("write", syscall.ECONNRESET))
		case p.eof:
			p.mu.Unlock()
			return n, c.opError("write", os.NewSyscallError("write", syscall.EPIPE))
		case p.gone && p.rst:
			p.mu.Unlock()
			return n, c.opError("write", os.NewSyscallError("write", syscall.EPIPE))
		case p.gone && !c.partitioned():
			// The first write to a closed peer succeeds, and its bytes
			// are lost: the peer's host answers them with a reset, which
			// fails the next write. A partition stops both, and the write
			// waits in the buffer as if the peer were still there.
			p.rst = true
			p.mu.Unlock()
			return len(b), nil
		case n == len(b):
			p.mu.Unlock()
			return n, nil
		}
		if free := p.size - p.buffered; free > 0 {
			k := min(free, len(b)-n)
			f, _ := p.faultsLocked()
			p.pushLocked(b[n:n+k], f, time.Now())
			n += k
			p.mu.Unlock()
			if n == len(b) {
				return n, nil // written: what happens next is the peer's news
			}
			continue
		}
		changed := p.waitLocked()
		// A heal may turn a closed peer into a reset: watch the paths.
		_, outPath := p.path.watch()
		_, inPath := c.in.path.watch()
		p.mu.Unlock()
		c.wait(changed, outPath, inPath, time.Time{})
	}
}

// partitioned reports whether the hosts of the connection are partitioned.
func (c *Conn) partitioned() bool {
	return c.out.path.isPartitioned() || c.in.path.isPartitioned()
}

// wait blocks until one of the changed channels is closed (a nil one never
// is) or the time wake comes (if not zero); a Close, a Reset and a
// passing deadline signal the pipe, whose channel is changed. Every case
// is a channel or a timer, so that the wait is durably blocking under
// testing/synctest. The caller then looks again. On a healthy path it is
// a receive on one channel: at 10,000 nodes the select on five, each
// with its waiter record, cost 460 bytes of heap per blocked Read.
func (c *Conn) wait(changed, path1, path2 <-chan struct{}, wake time.Time) {
	if path1 == nil && path2 == nil && wake.IsZero() {
		<-changed
		return
	}
	var timer <-chan time.Time
	if !wake.IsZero() {
		t := time.NewTimer(time.Until(wake))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-changed:
	case <-path1:
	case <-path2:
	case <-timer:
	}
}

// Close closes this end: see [Conn]. Closing twice returns an error
// matching net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	c.rd.stop()
	c.wd.stop()
	now := time.Now()
	c.out.mu.Lock()
	c.out.closeWriteLocked(now)
	c.out.mu.Unlock()
	cut := c.partitioned()
	c.in.mu.Lock()
	c.in.closeReadLocked(cut)
	c.in.mu.Unlock()
	c.nw.forget(c)
	return nil
}

// CloseWrite sends the end of the stream: the peer reads what was written,
// then io.EOF. This end's later writes fail; it can still read.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	c.out.closeWriteLocked(time.Now())
	return nil
}

// Reset resets the connection, as a TCP RST does: bytes in flight are
// dropped, and every Read and Write of both ends, waiting or to come,
// fails with an error matching syscall.ECONNRESET (an end closed before
// says net.ErrClosed instead).
func (c *Conn) Reset() {
	c.link.reset.Store(true)
	for _, p := range []*pipe{c.in, c.out} {
		p.mu.Lock()
		p.resetLocked()
		p.mu.Unlock()
	}
}

// SetFaults sets the faults of the bytes this end writes, on top of those
// of its hosts' pair ([Network.SetFaults]); [Faults] says what each does.
// Use c.Peer().SetFaults for the other direction. Bytes already written
// keep the arrival time they were given.
func (c *Conn) SetFaults(f Faults) {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	c.out.faults = f
	c.out.signalLocked()
}

// Faults returns the faults set with SetFaults.
func (c *Conn) Faults() Faults {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.faults
}

// Unread returns how many bytes this end has written that the peer has not
// read yet.
func (c *Conn) Unread() int {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.buffered
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline of waiting and future Reads; the zero
// time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of waiting and future Writes; the zero
// time means none. A Write that times out may have written part of its
// bytes, and says how many.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set deadline", net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}
