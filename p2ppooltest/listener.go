package p2ppooltest

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
)

// listener is a Host's listener: a backlog of connections dialled to its
// address that Accept has not taken.
type listener struct {
	// Immutable after Listen.
	host    *Host
	addr    *net.TCPAddr
	backlog int

	mu sync.Mutex
	// Guarded by mu.
	queue   []*Conn
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

var _ net.Listener = (*listener)(nil)

func (l *listener) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// enqueue hands c to Accept, waiting while the backlog is full.
func (l *listener) enqueue(ctx context.Context, c *Conn) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return os.NewSyscallError("connect", syscall.ECONNREFUSED)
		}
		if len(l.queue) < l.backlog {
			l.queue = append(l.queue, c)
			l.signalLocked()
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Accept waits for a connection and returns its *Conn.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.signalLocked()
			l.mu.Unlock()
			return c, nil
		}
		changed := l.changed
		l.mu.Unlock()
		<-changed
	}
}

// Close stops listening: Accept fails with net.ErrClosed, the connections
// still in the backlog are reset, and the port is free again.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	l.signalLocked()
	l.mu.Unlock()
	for _, c := range queued {
		c.Reset()
		c.Close()
	}
	n := l.host.nw
	n.mu.Lock()
	defer n.mu.Unlock()
	ap := l.addr.AddrPort()
	if n.listeners[ap] == l {
		delete(n.listeners, ap)
		delete(l.host.ports, ap.Port())
	}
	return nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *listener) Addr() net.Addr { return l.addr }
