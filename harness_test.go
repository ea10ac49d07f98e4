package p2ppool

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Test harness: pools speaking a one-message protocol (Text, tag 0x1000,
// a data-encoding string) over either loopback TCP or an in-memory network
// of net.Pipe connections.

type text = string

func textEncoding() Encoding[text] {
	return StringEncoding(0x1000, "text", 1<<20, func(s string) text { return s }, func(m text) (string, bool) { return m, true })
}

func textMessages() MessageConfig[text] {
	return MessageConfig[text]{Encodings: []Encoding[text]{textEncoding()}, ChainName: "P2PPOOL_TEST"}
}

type testPool = Pool[text, struct{}, Metadata]
type testConn = Connection[text, struct{}, Metadata]

// network is a transport for tests: "tcp" uses loopback sockets, "pipe" an
// in-memory network of net.Pipe connections with made-up addresses.
//
// The tcp sockets get small kernel buffers (tcpBuffer), so that a peer that
// stops reading stalls its sender after a bounded number of bytes, far
// fewer than one bigMsg, as net.Pipe does at once.
type network struct {
	name string
	mu   sync.Mutex
	// pipe network: listeners by point.
	listeners map[netip.AddrPort]*pipeListener
	next      uint16
}

func newNetwork(name string) *network {
	return &network{name: name, listeners: make(map[netip.AddrPort]*pipeListener), next: 10000}
}

var networks = []string{"tcp", "pipe"}

// listen returns a listener of the network.
func (n *network) listen(t testing.TB) net.Listener {
	t.Helper()
	if n.name == "loopback" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return ln
	}
	if n.name == "tcp" {
		lc := net.ListenConfig{Control: tcpControl}
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return smallBufferListener{ln}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	pt := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(n.next % 250)}), n.next)
	ln := &pipeListener{addr: net.TCPAddrFromAddrPort(pt), conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[pt] = ln
	return ln
}

// DialContext implements Dialer.
func (n *network) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	if n.name == "loopback" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", address)
	}
	if n.name == "tcp" {
		d := net.Dialer{Control: tcpControl}
		c, err := d.DialContext(ctx, "tcp", address)
		if err != nil {
			return nil, err
		}
		if err := shrinkBuffers(c); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	n.mu.Lock()
	n.next++
	src := netip.AddrFrom4([4]byte{10, 1, 0, byte(n.next % 250)})
	n.mu.Unlock()
	return n.dialFrom(ctx, address, src)
}

// dialFrom opens a pipe connection to address whose local end is src at a
// new port.
func (n *network) dialFrom(ctx context.Context, address string, src netip.Addr) (net.Conn, error) {
	pt, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	ln := n.listeners[pt]
	n.next++
	local := netip.AddrPortFrom(src, n.next)
	n.mu.Unlock()
	if ln == nil {
		return nil, fmt.Errorf("dial %v: connection refused", pt)
	}
	a, b := net.Pipe()
	ca := &addrConn{Conn: a, local: net.TCPAddrFromAddrPort(local), remote: ln.addr}
	cb := &addrConn{Conn: b, local: ln.addr, remote: net.TCPAddrFromAddrPort(local)}
	select {
	case ln.conns <- cb:
		return ca, nil
	case <-ln.done:
		return nil, fmt.Errorf("dial %v: connection refused", pt)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// tcpBuffer is the kernel send and receive buffer size of the tcp
// network's sockets (Linux doubles it). tcpControl sets it before the
// connection is made, so that the window a receiver advertises never
// exceeds its buffer: shrinking the buffer of an established connection
// makes the kernel drop segments sent into the old window, and the
// sender's retransmission backoff then stalls the connection for seconds.
// Where tcpControl cannot (not unix), shrinkBuffers does it afterwards.
const tcpBuffer = 16 << 10

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := shrinkBuffers(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *addrConn) LocalAddr() net.Addr  { return c.local }
func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

type pipeListener struct {
	addr      *net.TCPAddr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// testIdentity returns a fresh identity without proof of work.
func testIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity(context.Background(), 0, nil)
	require.NoError(t, err)
	return id
}

// node is a pool serving on a listener of its network.
type node struct {
	*testPool
	point netip.AddrPort
	serve chan error
}

// newNode starts a pool on net; mutate adjusts its config.
func newNode(t testing.TB, n *network, mutate func(*Config)) *node {
	t.Helper()
	return newMsgNode(t, n, textMessages(), mutate)
}

// connect dials b from a and returns both ends once b has registered its
// side too.
func connect(t testing.TB, a, b *node) (*testConn, *testConn) {
	t.Helper()
	ca, err := a.Connect(context.Background(), b.point)
	require.NoError(t, err)
	cb := waitConn(t, b, a.Identity().PeerID)
	return ca, cb
}

// waitConn waits until p has a running connection with peer: the two ends
// finish the ack exchange independently.
func waitConn(t testing.TB, p *node, peer PeerID) *testConn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, ok := p.Connection(peer); ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection to %v", peer)
		}
		time.Sleep(time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
