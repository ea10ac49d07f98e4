package p2ppool

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Helpers shared by the pool tests (rw, admission, hostile, lifecycle),
// on top of harness_test.go.

// waitTimeout bounds every wait on another goroutine's progress: far more
// than any test needs, so that hitting it means a hang, not slowness.
const waitTimeout = 10 * time.Second

// newMsgNode is newNode with another message set (chain name, versions,
// encodings).
func newMsgNode(t testing.TB, n *network, msgs MessageConfig[text], mutate func(*Config)) *node {
	t.Helper()
	// The maintenance is off unless a test turns it on: the tests of the
	// pool's mechanics count messages, drops and connections exactly.
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := NewBasic(msgs, cfg)
	require.NoError(t, err)
	return serveNode(t, p, n.listen(t))
}

// serveNode serves ln with p until the test ends.
func serveNode(t testing.TB, p *testPool, ln net.Listener) *node {
	t.Helper()
	nd := &node{testPool: p, point: ln.Addr().(*net.TCPAddr).AddrPort(), serve: make(chan error, 1)}
	go func() { nd.serve <- p.Serve(ln) }()
	waitServing(t, p, ln)
	t.Cleanup(func() {
		require.NoError(t, p.Close())
		select {
		case err := <-nd.serve:
			require.ErrorIs(t, err, ErrPoolClosed)
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return nd
}

// waitServing waits until p serves ln, so that the port it announces is
// ln's: a node that dials before Serve has started announces none.
func waitServing(t testing.TB, p *testPool, ln net.Listener) {
	t.Helper()
	waitFor(t, "Serve to start", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, ok := p.reg.listeners[ln]
		return ok
	})
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
// It is for state another goroutine updates with no channel to wait on
// (pool tables, counters).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDone waits until c has ended and left the pool's tables.
func waitDone(t testing.TB, c *testConn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("connection %d with %v did not end", c.Info().ID, c.Peer())
	}
}

// recvErr waits for the result of a call run on another goroutine.
func recvErr(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// notYet asserts that the call behind ch has not returned. It can only
// miss a bug, never fail a correct implementation.
func notYet(t testing.TB, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned %v; it should still be blocked", what, err)
	default:
	}
}

// disconnectError extracts the *DisconnectError from err.
func disconnectError(t testing.TB, err error) *DisconnectError {
	t.Helper()
	var de *DisconnectError
	require.ErrorAs(t, err, &de)
	require.ErrorIs(t, err, ErrConnectionClosed)
	require.ErrorIs(t, err, net.ErrClosed)
	return de
}

// endReason waits for c to end and returns why.
func endReason(t testing.TB, c *testConn) *DisconnectError {
	t.Helper()
	waitDone(t, c)
	return disconnectError(t, c.Err())
}

// readN reads n messages from c.
func readN(t testing.TB, c *testConn, n int) []text {
	t.Helper()
	ctx := ctxT(t)
	out := make([]text, 0, n)
	for range n {
		m, err := c.Read(ctx)
		require.NoError(t, err, "after %d messages", len(out))
		out = append(out, m)
	}
	return out
}

// readAll reads c until it ends and returns the messages and the end.
func readAll(t testing.TB, c *testConn) ([]text, *DisconnectError) {
	t.Helper()
	ctx := ctxT(t)
	var out []text
	for {
		m, err := c.Read(ctx)
		if err != nil {
			require.NoError(t, ctx.Err(), "reading until the connection ends")
			return out, disconnectError(t, err)
		}
		out = append(out, m)
	}
}

// numbered returns the i-th message of a sequence, padded to size bytes.
func numbered(i, size int) text {
	s := "m" + strconv.Itoa(i) + ":"
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

// The stalled-writer set-up. A connection's writer is stuck for good when
// it is writing a message the peer never takes in whole: the peer's
// application does not read, so the peer stops reading the socket once it
// holds a few messages, and a bigMsg is larger than what the transport
// buffers between them (the 64 KiB buffers of the mem network or the
// small kernel buffers of the tcp network, plus the peer's read-ahead of
// at most two chunks).

// bigSize is the size of a bigMsg body.
const bigSize = 512 << 10

// bigMsg is the i-th message of a stalling sequence.
func bigMsg(i int) text { return numbered(i, bigSize) }

// smallQueue is the outgoing queue size of stalling senders: less than one
// bigMsg, so such a queue holds one bigMsg (accepted into an empty queue)
// or a few small messages.
const smallQueue = 4 << 10

// poolHolds is how many whole messages a pool peer with an app queue of
// one message takes in before it stops reading: the one in its app queue.
// Its reader waits for room as soon as the next message's size prefix
// arrives, before reassembling the rest.
const poolHolds = 1

// holdsOne makes a node whose connections hold one incoming message:
// one in the first stage of the queue, and a byte bound that the next
// message cannot fit under (a message larger than the bound still enters
// an empty queue).
func holdsOne(c *Config) {
	c.Limits.IncomingAppMessageQueueSize = 1
	c.Limits.IncomingMessageQueueSize = 1
}

// stalledPair connects a sender a (outgoing queue smallQueue) to a receiver
// b whose app queue holds one message; the test decides when b's
// application reads.
func stalledPair(t testing.TB, n *network) (a, b *node, ca, cb *testConn) {
	t.Helper()
	a = newNode(t, n, func(c *Config) { c.Limits.OutgoingMessageQueueSize = smallQueue })
	b = newNode(t, n, holdsOne)
	ca, cb = connect(t, a, b)
	return a, b, ca, cb
}

// stallWriter writes bigMsgs on c until its writer is stuck for good on
// the last one, with c's outgoing queue empty, and returns the messages
// sent. holds is how many whole messages the peer takes in before it stops
// reading (poolHolds for a pool peer that does not read, 0 for a raw peer
// that reads nothing). Each Write of a bigMsg returns once it is queued,
// which needs an empty queue, so the writer has taken the previous one;
// the writer has written the first holds in full, and cannot finish the
// next.
func stallWriter(t testing.TB, c *testConn, holds int) []text {
	t.Helper()
	ctx := ctxT(t)
	var sent []text
	for i := 0; i <= holds; i++ {
		m := bigMsg(i)
		require.NoError(t, c.Write(ctx, m))
		sent = append(sent, m)
	}
	waitFor(t, "the writer to take the last message", func() bool { n, _ := c.out.len(); return n == 0 })
	return sent
}

// fillQueue queues one more bigMsg behind a stalled writer: the outgoing
// queue is then full, and stays full until the peer reads.
func fillQueue(t testing.TB, c *testConn, sent []text) []text {
	t.Helper()
	m := bigMsg(len(sent))
	require.NoError(t, c.Write(ctxT(t), m))
	return append(sent, m)
}

// requireFull asserts that c's outgoing queue has no room, without
// queueing or dropping anything: a Write whose context is already done
// fails only when it would have to wait.
func requireFull(t testing.TB, c *testConn) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Write(ctx, "probe"), context.Canceled, "the outgoing queue should be full")
}

// drainAndEnd has a disconnect the sender end ca with wait, the receiver
// end cb read everything, and returns what cb read and why it ended.
func drainAndEnd(t testing.TB, ca, cb *testConn) ([]text, *DisconnectError) {
	t.Helper()
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { done <- ca.Disconnect(ctx, true) }()
	msgs, de := readAll(t, cb)
	require.NoError(t, recvErr(t, done, "Disconnect"))
	return msgs, de
}

// knows reports whether p has pt in its known points.
func knows(p *testPool, pt netip.AddrPort) bool {
	for k := range p.Points().All() {
		if k == pt {
			return true
		}
	}
	return false
}

// rawPeer is a scripted peer: it runs the real handshake with the
// internal socket package and then writes whatever bytes a test crafts.
type rawPeer struct {
	id *Identity
	nc net.Conn
	sc *socket.Conn
}

// rawConfig is the socket configuration of a peer with identity id and
// metadata meta that speaks the harness's chain.
func rawConfig(t testing.TB, id *Identity, meta wire.Metadata) socket.Config {
	t.Helper()
	target, err := crypto.MakePowTarget(0)
	require.NoError(t, err)
	return socket.Config{
		PublicKey:        crypto.PublicKey(id.PublicKey),
		SecretKey:        crypto.SecretKey(id.SecretKey),
		ProofOfWorkStamp: crypto.Nonce(id.ProofOfWorkStamp),
		Version:          wire.NetworkVersion{ChainName: "P2PPOOL_TEST", DistributedDB: 2, P2P: 1},
		PowTarget:        target,
		Metadata:         meta.Append(nil),
	}
}

// dialRaw connects a scripted peer to nd, completes the handshake and
// returns it with nd's end of the connection.
func dialRaw(t testing.TB, n *network, nd *node) (*rawPeer, *testConn) {
	t.Helper()
	return dialRawMeta(t, n, nd, wire.Metadata{})
}

// dialRawMeta is dialRaw for a scripted peer announcing meta.
func dialRawMeta(t testing.TB, n *network, nd *node, meta wire.Metadata) (*rawPeer, *testConn) {
	t.Helper()
	return dialRawAs(t, n, nd, testIdentity(t), meta)
}

// dialRawAs is dialRawMeta for a scripted peer of identity id.
func dialRawAs(t testing.TB, n *network, nd *node, id *Identity, meta wire.Metadata) (*rawPeer, *testConn) {
	t.Helper()
	ctx := ctxT(t)
	nc, err := n.DialContext(ctx, "tcp", nd.point.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	cfg := rawConfig(t, id, meta)
	auth, err := socket.Authenticate(ctx, nc, false, &cfg)
	require.NoError(t, err)
	sc, err := auth.Accept()
	require.NoError(t, err)
	rp := &rawPeer{id: id, nc: nc, sc: sc}
	return rp, waitConn(t, nd, id.PeerID)
}

// dialSilent opens a transport connection to nd and says nothing.
func dialSilent(t testing.TB, n *network, nd *node) net.Conn {
	t.Helper()
	nc, err := n.DialContext(ctxT(t), "tcp", nd.point.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return nc
}

// wireAdvertise is an Advertise message of pts.
func wireAdvertise(pts ...netip.AddrPort) []byte {
	m := wire.Message{Tag: wire.TagAdvertise, Points: pts}
	return m.Append(nil)
}

// appMsg is a whole message with an arbitrary tag and body, unchecked:
// a P2P tag with a body that does not belong to it too.
func appMsg(tag uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(2+len(body)))
	b = binary.BigEndian.AppendUint16(b, tag)
	return append(b, body...)
}

// waitRemoteEOF waits until the other end of nc has closed it: a read
// returns EOF (anything the other end sent first is skipped).
func waitRemoteEOF(t testing.TB, nc net.Conn) error {
	t.Helper()
	// A socket whose other end is closed may refuse deadlines; its reads
	// then return at once.
	_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err != nil {
			return err
		}
	}
}

// silentListener accepts transport connections, reads what they send and
// never writes: handshakes with it hang until they are cut.
type silentListener struct {
	point     netip.AddrPort
	ln        net.Listener
	heard     chan struct{} // a token per connection that sent its first bytes; never closed
	wg        sync.WaitGroup
	closeOnce sync.Once
	mu        sync.Mutex
	// Guarded by mu.
	conns  []net.Conn
	closed bool
}

func newSilentListener(t testing.TB, n *network) *silentListener {
	t.Helper()
	ln := n.listen(t)
	s := &silentListener{point: ln.Addr().(*net.TCPAddr).AddrPort(), ln: ln, heard: make(chan struct{}, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				c.Close()
			} else {
				s.conns = append(s.conns, c)
				s.wg.Add(1)
				go s.listen(c)
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *silentListener) listen(c net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for first := true; ; first = false {
		if _, err := c.Read(buf); err != nil {
			return
		}
		if first {
			select {
			case s.heard <- struct{}{}:
			default:
			}
		}
	}
}

// waitHeard waits until a connection has sent its first bytes: the
// dialler's handshake is under way.
func (s *silentListener) waitHeard(t testing.TB) {
	t.Helper()
	select {
	case <-s.heard:
	case <-time.After(waitTimeout):
		t.Fatal("nothing reached the silent listener")
	}
}

// close stops accepting, closes what was accepted and waits for its
// goroutines. Idempotent.
func (s *silentListener) close() {
	s.closeOnce.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// waitHeard waits until the pool at the other end of nc has sent its
// first bytes: its handshake is under way.
func waitHeard(t testing.TB, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := nc.Read(make([]byte, 1))
	require.NoError(t, err, "the pool sent nothing")
}

// pointState returns p's state for pt, and whether p knows pt.
func pointState(p *testPool, pt netip.AddrPort) (PointState, bool) {
	for k, pi := range p.Points().All() {
		if k == pt {
			return pi.State, true
		}
	}
	return 0, false
}
