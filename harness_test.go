package p2ppool

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// Test harness: pools speaking a one-message protocol (Text, tag 0x1000,
// a data-encoding string) over either loopback TCP or the in-memory
// network of p2ppooltest.

type text = string

func textEncoding() Encoding[text] {
	return StringEncoding(0x1000, "text", 1<<20, func(s string) text { return s }, func(m text) (string, bool) { return m, true })
}

func textMessages() MessageConfig[text] {
	return MessageConfig[text]{Encodings: []Encoding[text]{textEncoding()}, ChainName: "P2PPOOL_TEST"}
}

type testPool = BasicPool[text]
type testConn = BasicConnection[text]

// network is a transport for tests: "tcp" uses loopback sockets, "mem" a
// p2ppooltest network where every listener and every dial has a host of
// its own, each in its own /24 (fromAddr dials from a chosen address).
// Inside a synctest bubble, "mem" runs on the bubble's clock.
//
// The tcp sockets get small kernel buffers (tcpBuffer), so that a peer that
// stops reading stalls its sender after a bounded number of bytes, far
// fewer than one bigMsg, as the mem network's 64 KiB buffers do.
type network struct {
	name string
	mem  *p2ppooltest.Network // the mem network
	mu   sync.Mutex
	// Guarded by mu.
	unplugged map[netip.AddrPort]bool // mem points whose dials are refused
	port      uint16                  // the last mem listening port
}

func newNetwork(name string) *network {
	n := &network{name: name, unplugged: make(map[netip.AddrPort]bool), port: 10000}
	if name == "mem" {
		// A backlog of one: a dial waits until the listener has taken
		// the previous one, as the net.Pipe network this one replaced
		// did, so a flood of dials cannot run far ahead of a pool's
		// accept loop; the attack tests' counts of evictions assume that
		// pace.
		n.mem = p2ppooltest.NewNetwork(p2ppooltest.Config{Backlog: 1})
	}
	return n
}

var networks = []string{"tcp", "mem"}

// listen returns a listener of the network.
func (n *network) listen(t testing.TB) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	switch n.name {
	case "loopback":
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case "tcp":
		lc := net.ListenConfig{Control: tcpControl}
		ln, err = lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		ln = smallBufferListener{ln}
	default:
		// Every listener has a port of its own too, so that the point a
		// node announces (its dialling address, its listening port) is
		// never another node's.
		n.mu.Lock()
		n.port++
		port := n.port
		n.mu.Unlock()
		ln, err = n.mem.NewHost().Listen("tcp", ":"+strconv.Itoa(int(port)))
	}
	require.NoError(t, err)
	return ln
}

// DialContext implements Dialer.
func (n *network) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	switch n.name {
	case "loopback":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", address)
	case "tcp":
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
	return n.dialFrom(ctx, address, n.mem.NewHost().Addr())
}

// dialFrom opens a mem connection to address from the address src.
func (n *network) dialFrom(ctx context.Context, address string, src netip.Addr) (net.Conn, error) {
	n.mu.Lock()
	pt, _ := netip.ParseAddrPort(address) // a bad address fails in the dial
	refused := n.unplugged[pt]
	n.mu.Unlock()
	if refused {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	return n.mem.Host(src.String()).DialContext(ctx, "tcp", address)
}

// unplug makes dials to the mem point pt fail, as if nothing listened
// there, until replug is called; its listener and connections stay.
func (n *network) unplug(pt netip.AddrPort) (replug func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.unplugged[pt] = true
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.unplugged, pt)
	}
}

// connPair returns the two ends of a transport connection of the network,
// dialled and accepted; the test closes them.
func (n *network) connPair(t testing.TB) (dialled, accepted net.Conn) {
	t.Helper()
	ln := n.listen(t)
	defer ln.Close()
	dialled, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	accepted, err = ln.Accept()
	require.NoError(t, err)
	return dialled, accepted
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

// testIdentity returns a fresh identity without proof of work.
func testIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity(context.Background(), NoProofOfWork, nil)
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
	cb := waitConn(t, b, a.Config().Identity.PeerID)
	return ca, cb
}

// waitConn waits until p has a running connection with peer: the two ends
// finish the ack exchange independently.
func waitConn(t testing.TB, p *node, peer PeerID) *testConn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, ok := p.Conns().ByPeer(peer); ok {
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

// transport returns the mem connection under a's end of the connection
// (a, b) of two pools, for a test to inject faults into.
func (n *network) transport(t testing.TB, a, b *testConn) *p2ppooltest.Conn {
	t.Helper()
	require.NotNil(t, n.mem, "faults need the mem network")
	local := b.Info().RemoteAddr.(*net.TCPAddr).AddrPort()
	remote := a.Info().RemoteAddr.(*net.TCPAddr).AddrPort()
	c, ok := n.mem.Lookup(local, remote)
	require.True(t, ok, "no mem connection %v -> %v", local, remote)
	return c
}

// TestHarness shows what the harness gives a test: nodes on either
// network that connect and talk, each mem node with an address of its
// own, and, on the mem network, the transport connection under a pool
// connection, where faults go.
func TestHarness(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ca, cb := connect(t, a, b)
			require.NoError(t, ca.Write(ctxT(t), "hello"))
			require.Equal(t, []text{"hello"}, readN(t, cb, 1))
			require.Equal(t, b.point, ca.Info().Point)
			if name != "mem" {
				return
			}
			// Every mem listener and dial has a host of its own, in a /24
			// of its own.
			from := cb.Info().RemoteAddr.(*net.TCPAddr).AddrPort().Addr()
			require.NotEqual(t, netip.PrefixFrom(from, 24).Masked(), netip.PrefixFrom(b.point.Addr(), 24).Masked())
			// Half-open: what a writes no longer arrives, and b's reader
			// waits; a reset then ends both connections with a read error.
			tc := n.transport(t, ca, cb)
			tc.SetFaults(p2ppooltest.Faults{Stalled: true})
			require.NoError(t, ca.Write(ctxT(t), "lost"))
			waitFor(t, "a's writer to write", func() bool { return tc.Unread() > 0 })
			tc.Reset()
			require.Equal(t, ReasonReadError, endReason(t, ca).Reason)
			require.Equal(t, ReasonReadError, endReason(t, cb).Reason)
			_, err := cb.Read(ctxT(t))
			require.ErrorIs(t, err, syscall.ECONNRESET)
		})
	}
}
