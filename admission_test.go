package p2ppool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Tests of the admission rules (octez §3): every refusal is a distinct
// error for Connect and, for an incoming connection, a count in
// Stats().Connections.Refused.

// oneSlot makes a pool accept a single connection.
func oneSlot(c *Config) {
	c.Limits.MinConnections, c.Limits.ExpectedConnections, c.Limits.MaxConnections = 1, 1, 1
}

// patient gives a pool handshake timeouts far beyond the test's, for
// cases where both sides nack at once: on a transport that buffers
// nothing, two nacks that only wrote would block each other until a
// timeout cut them (the pool's nack reads while it writes); with these
// timeouts such a stall fails the test instead of slowing it down.
func patient(c *Config) { c.Timeouts.Connection, c.Timeouts.Authentication = time.Hour, time.Hour }

// connectQuickly is a.Connect(pt), failing the test if it takes
// waitTimeout.
func connectQuickly(t testing.TB, a *node, pt netip.AddrPort) error {
	t.Helper()
	res := make(chan error, 1)
	go func() { _, err := a.Connect(context.Background(), pt); res <- err }()
	return recvErr(t, res, "Connect")
}

// requireRefused waits until p has refused exactly want, by reason.
func requireRefused(t testing.TB, p *node, want map[RefusalReason]uint64) {
	t.Helper()
	waitFor(t, "the refusal to be counted", func() bool {
		got := p.Stats().Connections.Refused
		for r, n := range want {
			if got[r] < n {
				return false
			}
		}
		return true
	})
	assert.Equal(t, want, p.Stats().Connections.Refused)
}

// requireHungUp asserts that err is a handshake the peer abandoned
// without a nack, closing the connection. (On TCP, Linux resets a
// connection closed with unread data, so the peer's close may arrive as a
// reset.)
func requireHungUp(t testing.TB, err error) {
	t.Helper()
	var he *HandshakeError
	require.ErrorAs(t, err, &he)
	assert.NotErrorIs(t, err, ErrRejected)
	assert.True(t, errors.Is(err, ErrClosedDuringHandshake) || errors.Is(err, syscall.ECONNRESET), "not a hang-up: %v", err)
}

func TestAdmissionRefusals(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, n *network)
	}{
		{"too many connections, outgoing", func(t *testing.T, n *network) {
			a, b, c := newNode(t, n, oneSlot), newNode(t, n, nil), newNode(t, n, nil)
			connect(t, a, b)
			_, err := a.Connect(ctxT(t), c.point)
			require.ErrorIs(t, err, ErrTooManyConnections)
			assert.Empty(t, c.Stats().Connections.Refused, "refused before dialling")
			assert.Equal(t, 0, c.Conns().Len())
		}},
		{"too many connections, incoming: nack with alternatives", func(t *testing.T, n *network) {
			a, b, c := newNode(t, n, nil), newNode(t, n, oneSlot), newNode(t, n, nil)
			bc, _ := connect(t, b, c) // b dialled c: c's point is public to b
			_, err := a.Connect(ctxT(t), b.point)
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			require.ErrorIs(t, err, ErrRejected)
			assert.Equal(t, NackTooManyConnections, rej.Motive)
			assert.Contains(t, rej.Points, bc.Info().Point)
			assert.True(t, knows(a.testPool, bc.Info().Point), "the dialler learns the alternatives")
			requireRefused(t, b, map[RefusalReason]uint64{RefusedTooManyConnections: 1})
			assert.Equal(t, 1, b.Conns().Len())
		}},
		{"too many incoming handshakes", func(t *testing.T, n *network) {
			if n.name != "tcp" {
				t.Skip("loopback only: elsewhere a busy slot is evicted, not the newcomer refused (TestHandshakeSlotEviction)")
			}
			b := newNode(t, n, func(c *Config) { c.Admission.MaxIncomingConnections = 1 })
			first := dialSilent(t, n, b)
			waitFor(t, "the first handshake to start", func() bool { return b.Stats().Connections.IncomingHandshakes == 1 })
			second := dialSilent(t, n, b)
			assert.Equal(t, io.EOF, waitRemoteEOF(t, second), "closed at once, without a word")
			requireRefused(t, b, map[RefusalReason]uint64{RefusedTooManyIncoming: 1})
			// Once the first handshake fails, its slot is free again.
			require.NoError(t, first.Close())
			requireRefused(t, b, map[RefusalReason]uint64{RefusedTooManyIncoming: 1, RefusedHandshakeFailed: 1})
			waitFor(t, "the slot to be freed", func() bool { return b.Stats().Connections.IncomingHandshakes == 0 })
			a := newNode(t, n, nil)
			connect(t, a, b)
		}},
		{"already connected to the point", func(t *testing.T, n *network) {
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ab, _ := connect(t, a, b)
			_, err := a.Connect(ctxT(t), b.point)
			require.ErrorIs(t, err, ErrAlreadyConnected)
			assert.NoError(t, ab.Err())
			assert.Empty(t, b.Stats().Connections.Refused, "refused before dialling")
		}},
		{"already connected to the peer, other route: the dialler refuses", func(t *testing.T, n *network) {
			a, b := newNode(t, n, patient), newNode(t, n, patient)
			ab, _ := connect(t, a, b)
			ln := n.listen(t)
			served := make(chan error, 1)
			go func() { served <- b.Serve(ln) }()
			t.Cleanup(func() {
				require.NoError(t, b.Close())
				require.ErrorIs(t, recvErr(t, served, "Serve"), ErrPoolClosed)
			})
			// Both sides nack: neither waits for the other to read.
			err := connectQuickly(t, a, ln.Addr().(*net.TCPAddr).AddrPort())
			require.ErrorIs(t, err, ErrAlreadyConnected)
			var he *HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, StageAck, he.Stage)
			assert.Equal(t, b.Config().Identity.PeerID, he.Peer)
			// b refused it too, and the first connection is unharmed.
			requireRefused(t, b, map[RefusalReason]uint64{RefusedAlreadyConnected: 1})
			assert.NoError(t, ab.Err())
		}},
		{"already connected to the peer, other route: the remote nacks", func(t *testing.T, n *network) {
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			// a2 is a's identity in another pool, which knows nothing of b.
			a2 := newNode(t, n, func(c *Config) { c.Identity = a.Config().Identity })
			connect(t, a, b)
			_, err := a2.Connect(ctxT(t), b.point)
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			assert.Equal(t, NackAlreadyConnected, rej.Motive)
			requireRefused(t, b, map[RefusalReason]uint64{RefusedAlreadyConnected: 1})
			state, _ := pointState(a2.testPool, b.point)
			assert.Equal(t, PointDisconnected, state)
		}},
		{"pending connection", func(t *testing.T, n *network) {
			a := newNode(t, n, nil)
			silent := newSilentListener(t, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := make(chan error, 1)
			go func() { _, err := a.Connect(ctx, silent.point); first <- err }()
			// Cancel once the handshake is under way: a cancellation that
			// lands while socket.Authenticate sets its deadlines is lost
			// (it runs to Timeouts.Connection), a bug of internal/socket.
			silent.waitHeard(t)
			_, err := a.Connect(ctxT(t), silent.point)
			require.ErrorIs(t, err, ErrPendingConnection)
			cancel()
			require.ErrorIs(t, recvErr(t, first, "Connect"), context.Canceled)
			state, _ := pointState(a.testPool, silent.point)
			assert.Equal(t, PointDisconnected, state, "the point can be dialled again")
		}},
		{"myself", func(t *testing.T, n *network) {
			a := newNode(t, n, nil)
			_, err := a.Connect(ctxT(t), a.point)
			require.ErrorIs(t, err, ErrMyself)
			assert.False(t, knows(a.testPool, a.point), "our own point is forgotten")
			requireRefused(t, a, map[RefusalReason]uint64{RefusedMyself: 1})
			// ... and not learnt again from a peer's Advertise.
			rp, _ := dialRaw(t, n, a)
			other := netip.MustParseAddrPort("192.0.2.7:9732")
			adv := wireAdvertise(a.point, other)
			require.NoError(t, rp.sc.WriteMessages(adv))
			waitFor(t, "the Advertise to be handled", func() bool { return knows(a.testPool, other) })
			assert.False(t, knows(a.testPool, a.point))
		}},
		{"closed network", func(t *testing.T, n *network) {
			b, c := newNode(t, n, nil), newNode(t, n, nil)
			a := newNode(t, n, func(cfg *Config) {
				cfg.Network.ClosedNetwork = true
				cfg.Network.TrustedPoints = []netip.AddrPort{b.point}
			})
			_, err := a.Connect(ctxT(t), c.point)
			require.ErrorIs(t, err, ErrPrivateMode)
			assert.Empty(t, c.Stats().Connections.Refused, "refused before dialling")
			connect(t, a, b) // trusted
			// An untrusted peer dialling in is dropped without a nack.
			_, err = c.Connect(ctxT(t), a.point)
			requireHungUp(t, err)
			requireRefused(t, a, map[RefusalReason]uint64{RefusedPrivateMode: 1})
			assert.Equal(t, 1, a.Conns().Len())
		}},
		{"unknown chain name", func(t *testing.T, n *network) {
			other := textMessages()
			other.ChainName = "OTHER_CHAIN"
			a, b := newNode(t, n, patient), newMsgNode(t, n, other, patient)
			// Both sides see the mismatch and nack, neither waiting for the
			// other to read: the dialler reports its own refusal.
			err := connectQuickly(t, a, b.point)
			var ve *VersionError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, ErrNoCommonVersion)
			assert.Equal(t, NackUnknownChainName, ve.Motive)
			assert.Equal(t, "OTHER_CHAIN", ve.Remote.ChainName)
			requireRefused(t, b, map[RefusalReason]uint64{RefusedNoCommonVersion: 1})
		}},
		{"no common distributed-db version", func(t *testing.T, n *network) {
			// a speaks 0..2 and announces 2; b speaks only 5. a would use
			// 2 (b announces more), b finds no version it can use.
			newer := textMessages()
			newer.DistributedDBVersions = []uint16{5}
			a, b := newNode(t, n, nil), newMsgNode(t, n, newer, nil)
			// a dials: b nacks, a gets the nack.
			_, err := a.Connect(ctxT(t), b.point)
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			assert.Equal(t, NackDeprecatedDistributedDBVersion, rej.Motive)
			requireRefused(t, b, map[RefusalReason]uint64{RefusedNoCommonVersion: 1})
			// b dials: b reports its own refusal, a counts the nack.
			_, err = b.Connect(ctxT(t), a.point)
			var ve *VersionError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, NackDeprecatedDistributedDBVersion, ve.Motive)
			assert.Equal(t, uint16(2), ve.Remote.DistributedDB)
			requireRefused(t, a, map[RefusalReason]uint64{RefusedByPeer: 1})
		}},
		{"not enough proof of work", func(t *testing.T, n *network) {
			strong, err := GenerateIdentity(ctxT(t), 8, nil)
			require.NoError(t, err)
			weak := testIdentity(t)
			for weak.CheckProofOfWork(8) == nil { // passes by chance once in 256
				weak = testIdentity(t)
			}
			require.ErrorIs(t, weak.CheckProofOfWork(8), ErrInsufficientProofOfWork)
			a := newNode(t, n, func(c *Config) { c.Identity, c.ProofOfWorkTarget = strong, 8 })
			b := newNode(t, n, func(c *Config) { c.Identity = weak })
			// a dials b: a checks b's stamp and gives up.
			_, err = a.Connect(ctxT(t), b.point)
			require.ErrorIs(t, err, ErrNotEnoughProofOfWork)
			var he *HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, StageConnectionMessage, he.Stage)
			// octez greylists the address of a peer with too little work.
			assert.True(t, a.ACL().AddrBanned(b.point.Addr()), "b's address greylisted")
			a.ACL().Clear() // on loopback every node shares that address
			// b dials a: a hangs up after the connection messages.
			_, err = b.Connect(ctxT(t), a.point)
			requireHungUp(t, err)
			requireRefused(t, a, map[RefusalReason]uint64{RefusedHandshakeFailed: 1})
			a.ACL().Clear()
			// A stamp that meets the target is welcome.
			good, err := GenerateIdentity(ctxT(t), 8, nil)
			require.NoError(t, err)
			c := newNode(t, n, func(c *Config) { c.Identity = good })
			connect(t, c, a)
		}},
	}
	for _, name := range networks {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) { tc.run(t, newNetwork(name)) })
		}
	}
}

// TestSocketErrorsAreTheExportedTypes: the errors internal/socket builds
// for a nack and a version mismatch are the exported *RejectedError and
// *VersionError themselves (type aliases), so errors.As with the public
// types matches them with no conversion in between. A raw peer runs the
// handshake with internal/socket against a pool.
func TestSocketErrorsAreTheExportedTypes(t *testing.T) {
	// rawHandshake dials nd as a peer announcing chain and returns the
	// error of its ack exchange, straight from internal/socket.
	rawHandshake := func(t *testing.T, n *network, nd *node, chain string) error {
		t.Helper()
		nc, err := n.DialContext(ctxT(t), "tcp", nd.point.String())
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		cfg := rawConfig(t, testIdentity(t), wire.Metadata{})
		cfg.Version.ChainName = chain
		auth, err := socket.Authenticate(ctxT(t), nc, false, &cfg)
		require.NoError(t, err)
		_, err = auth.Accept()
		return err
	}
	for _, name := range networks {
		t.Run(name+"/nack", func(t *testing.T) {
			n := newNetwork(name)
			b, c := newNode(t, n, oneSlot), newNode(t, n, nil)
			bc, _ := connect(t, b, c) // b dialled c: c's point is public to b
			err := rawHandshake(t, n, b, "P2PPOOL_TEST")
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			assert.ErrorIs(t, err, ErrRejected)
			assert.Equal(t, NackTooManyConnections, rej.Motive)
			assert.Contains(t, rej.Points, bc.Info().Point)
		})
		t.Run(name+"/version", func(t *testing.T) {
			n := newNetwork(name)
			b := newNode(t, n, nil)
			w := b.Watch(ctxT(t), 0)
			defer w.Close()
			err := rawHandshake(t, n, b, "OTHER_CHAIN")
			// The raw peer reads b's nack ...
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			assert.Equal(t, NackUnknownChainName, rej.Motive)
			// ... and b refused with the *VersionError of socket.Versions.
			ev := nextOf(t, w, EventRejectingRequest)
			var ve *VersionError
			require.ErrorAs(t, ev.Err, &ve)
			assert.ErrorIs(t, ev.Err, ErrNoCommonVersion)
			assert.Equal(t, NackUnknownChainName, ve.Motive)
			assert.Equal(t, NetworkVersion{ChainName: "OTHER_CHAIN", DistributedDB: 2, P2P: 1}, ve.Remote)
			// The same holds for socket.Versions' error taken directly.
			local := socket.Versions{ChainName: "P2PPOOL_TEST", DistributedDB: []uint16{2}, P2P: []uint16{1}}
			_, err = local.Select(ve.Remote)
			var direct *VersionError
			require.ErrorAs(t, err, &direct)
			assert.Equal(t, *ve, *direct)
		})
	}
}

// TestRefusalCountedBeforeThePeerKnows: a refusal at admission is in
// Stats by the time the refused peer's Connect has failed, as refusals
// before the handshake are. The pool is held right after the failed
// handshake (the moment it used to count it) while the test looks.
func TestRefusalCountedBeforeThePeerKnows(t *testing.T) {
	n := newNetwork("mem")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	require.NoError(t, a.Peers().Ban(b.Config().Identity.PeerID))
	held, release := make(chan struct{}), make(chan struct{})
	testHookIncomingFailed = func() { close(held); <-release }
	defer func() { testHookIncomingFailed = func() {} }()
	_, err := b.Connect(ctxT(t), a.point)
	require.Error(t, err)
	<-held
	refused := a.Stats().Connections.Refused[RefusedBanned]
	close(release)
	require.Equal(t, uint64(1), refused, "counted when the peer saw the refusal")
}

// The refusal log line says who was refused and why: the remote address
// and the reason, before the handshake (a banned address) and after it (a
// banned peer).
func TestRefusalLogLine(t *testing.T) {
	n := newNetwork("mem")
	var logs lockedLog
	a := newNode(t, n, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := newNode(t, n, nil)
	require.NoError(t, a.Peers().Ban(b.Config().Identity.PeerID))
	_, err := b.Connect(ctxT(t), a.point)
	require.Error(t, err)
	waitFor(t, "the refusal", func() bool { return a.Stats().Connections.Refused[RefusedBanned] == 1 })
	var line string
	waitFor(t, "the refusal's log line", func() bool {
		line = logs.find("incoming connection refused")
		return line != ""
	})
	assert.Contains(t, line, "reason="+RefusedBanned.String())
	assert.Regexp(t, `remote=\S+:\d+`, line)
	assert.NotContains(t, line, "remote=invalid")
}

// A connection's log lines name it (peer, point, remote, conn, dir) when
// the pool has a logger; startConnection skips building those attributes
// only for the default discarding one.
func TestConnLogAttributes(t *testing.T) {
	n := newNetwork("mem")
	var logs lockedLog
	a := newNode(t, n, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := newNode(t, n, nil)
	connect(t, a, b)
	// Logged by startConnection before Connect returns.
	line := logs.find("connection established")
	require.NotEmpty(t, line)
	for _, attr := range []string{`peer=\S+`, `point=\S+:\d+`, `remote=\S+:\d+`, `conn=\d+`, `dir=out`} {
		assert.Regexp(t, attr, line)
	}
}

// lockedLog is a log destination safe for the pool's goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// find returns the first line containing s, or "".
func (l *lockedLog) find(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
