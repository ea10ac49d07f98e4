package p2ppool

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Tests of the life of connections and pools: connection context and
// info, hooks, Disconnect with and without waiting, Shutdown and Close.

func TestConnectionContextAndInfo(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			start := time.Now()
			a, b, c := newNode(t, n, nil), newNode(t, n, nil), newNode(t, n, nil)
			ab, ba := connect(t, a, b)
			end := time.Now()

			for _, conn := range []*testConn{ab, ba} {
				require.NoError(t, conn.Err())
				require.NoError(t, conn.Context().Err())
			}
			want := NetworkVersion{ChainName: "P2PPOOL_TEST", DistributedDB: 2, P2P: 1}
			out, in := ab.Info(), ba.Info()
			assert.NotZero(t, out.ID)
			assert.Equal(t, b.Config().Identity.PeerID, out.Peer)
			assert.Equal(t, b.point, out.Point)
			assert.Equal(t, b.point.String(), out.RemoteAddr.String())
			assert.False(t, out.Incoming)
			assert.Equal(t, a.Config().Identity.PeerID, in.Peer)
			assert.True(t, in.Incoming)
			assert.Equal(t, a.point.Port(), in.Point.Port(), "the port a announced")
			for _, info := range []ConnInfo[Metadata]{out, in} {
				assert.Equal(t, want, info.Version)
				assert.Equal(t, want, info.Announced)
				assert.Equal(t, Metadata{}, info.LocalMeta)
				assert.Equal(t, Metadata{}, info.RemoteMeta)
				assert.False(t, info.PrivateNode)
				assert.False(t, info.Established.Before(start) || info.Established.After(end), "established %v, not in [%v, %v]", info.Established, start, end)
			}
			got, ok := a.Conns().ByPeer(b.Config().Identity.PeerID)
			require.True(t, ok)
			assert.Same(t, ab, got)
			ac, _ := connect(t, a, c)
			assert.Greater(t, ac.Info().ID, out.ID, "IDs follow establishment order")
			assert.Equal(t, []*testConn{ab, ac}, a.Conns().All())
			assert.Equal(t, 2, a.Conns().Len())

			// Once ended, Context is done with the *DisconnectError as its
			// cause, Err returns the same error, and Info stays readable.
			require.NoError(t, ab.Disconnect(ctxT(t), false))
			<-ab.Context().Done()
			de := disconnectError(t, context.Cause(ab.Context()))
			assert.Same(t, de, disconnectError(t, ab.Err()))
			assert.Equal(t, ReasonLocal, de.Reason)
			assert.False(t, de.Remote)
			assert.Equal(t, out, ab.Info())
			remote := endReason(t, ba)
			assert.Same(t, remote, disconnectError(t, context.Cause(ba.Context())))
			assert.Equal(t, ReasonRemoteClosed, remote.Reason)
			assert.True(t, remote.Remote)
			_, ok = a.Conns().ByPeer(b.Config().Identity.PeerID)
			assert.False(t, ok)
			assert.Equal(t, []*testConn{ac}, a.Conns().All())
			state, _ := pointState(a.testPool, b.point)
			assert.Equal(t, PointDisconnected, state)
		})
	}
}

func TestHooksRunNewestFirstBeforeConnectReturns(t *testing.T) {
	n := newNetwork("mem")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	var mu sync.Mutex
	var calls []string
	hook := func(name string) func(*testConn) {
		return func(c *testConn) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, name+" "+c.Peer().String())
		}
	}
	a.Conns().OnNew(hook("first"))
	a.Conns().OnNew(hook("second"))
	ca, err := a.Connect(ctxT(t), b.point)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"second " + ca.Peer().String(), "first " + ca.Peer().String()}, calls)
}

func TestDisconnectWaitSendsQueuedMessages(t *testing.T) {
	cases := []struct {
		wait bool
		// delivered is what the peer gets of what was queued.
		delivered func(sent []text) []text
	}{
		{true, func(sent []text) []text { return sent }},
		// Without waiting the writer is cut in the middle of the message
		// it was stuck on; the one behind it is discarded.
		{false, func(sent []text) []text { return sent[:poolHolds] }},
	}
	for _, name := range networks {
		for _, tc := range cases {
			t.Run(name+"/wait="+map[bool]string{true: "true", false: "false"}[tc.wait], func(t *testing.T) {
				n := newNetwork(name)
				a, b, ca, cb := stalledPair(t, n)
				sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))
				ctx := ctxT(t)
				res := make(chan error, 1)
				go func() { res <- ca.Disconnect(ctx, tc.wait) }()
				if !tc.wait {
					require.NoError(t, recvErr(t, res, "Disconnect"))
					select {
					case <-ca.Done():
					default:
						t.Fatal("Disconnect returned before the connection was torn down")
					}
				} else {
					notYet(t, res, "Disconnect(wait) while the peer does not read")
				}
				got, de := readAll(t, cb)
				if tc.wait {
					require.NoError(t, recvErr(t, res, "Disconnect"))
				}
				assert.Equal(t, tc.delivered(sent), got)
				assert.Equal(t, ReasonRemoteClosed, de.Reason)
				local := disconnectError(t, ca.Err())
				assert.Equal(t, ReasonLocal, local.Reason)
				assert.False(t, local.Remote)
				_, ok := a.Conns().ByPeer(b.Config().Identity.PeerID)
				assert.False(t, ok)
				assert.Zero(t, a.Stats().Queues.Dropped)
			})
		}
	}
}

func TestShutdownDeliversQueuedMessagesFirst(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b, ca, cb := stalledPair(t, n)
			// The queue is full: the Disconnect must still go after it.
			sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))
			requireFull(t, ca)

			ctx := ctxT(t)
			res := make(chan error, 1)
			go func() { res <- a.Shutdown(ctx) }()
			select {
			case <-a.life.done:
			case <-time.After(waitTimeout):
				t.Fatal("Done not closed by Shutdown")
			}
			// While the connections drain the pool takes no new work.
			_, err := a.WriteAll("late")
			require.ErrorIs(t, err, ErrPoolClosed)
			_, err = a.Connect(ctx, b.point)
			require.ErrorIs(t, err, ErrPoolClosed)
			notYet(t, res, "Shutdown while the peer does not read")

			got, de := readAll(t, cb)
			assert.Equal(t, sent, got, "queued messages come before the Disconnect")
			assert.Equal(t, ReasonRemoteDisconnect, de.Reason)
			assert.True(t, de.Remote)
			require.NoError(t, recvErr(t, res, "Shutdown"))

			local := disconnectError(t, ca.Err())
			assert.Equal(t, ReasonPoolClosed, local.Reason)
			assert.False(t, local.Remote)
			assert.Zero(t, a.Conns().Len())
			assert.Zero(t, a.Stats().Queues.Dropped)
		})
	}
}

func TestShutdownExpiredContextClosesEverything(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			leftover := goleak.IgnoreCurrent()
			n := newNetwork(name)
			a, b, ca, cb := stalledPair(t, n)
			sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))

			// Work in flight: an incoming handshake that never progresses,
			// an outgoing one to a point that never answers, and
			// application calls blocked on the connection.
			silentIn := dialSilent(t, n, a)
			silent := newSilentListener(t, n)
			connectErr := make(chan error, 1)
			go func() { _, err := a.Connect(context.Background(), silent.point); connectErr <- err }()
			// Both handshakes must be under way before Shutdown: a
			// cancellation that lands while socket.Authenticate sets its
			// deadlines is lost (it runs to its timeout), a bug of
			// internal/socket.
			silent.waitHeard(t)
			waitHeard(t, silentIn)
			readErr, writeErr := make(chan error, 1), make(chan error, 1)
			go func() { _, err := ca.Read(context.Background()); readErr <- err }()
			go func() { writeErr <- ca.Write(context.Background(), "blocked") }()
			waitFor(t, "the incoming handshake", func() bool { return a.Stats().Connections.IncomingHandshakes == 1 })

			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			require.ErrorIs(t, a.Shutdown(ctx), context.DeadlineExceeded)

			// Shutdown has cut and waited for everything.
			select {
			case <-ca.Done():
			default:
				t.Fatal("the connection outlived Shutdown")
			}
			assert.Equal(t, ReasonPoolClosed, disconnectError(t, ca.Err()).Reason)
			st := a.Stats()
			assert.Zero(t, st.Connections.Established+st.Connections.Accepted+st.Connections.IncomingHandshakes+st.Queues.AppQueued+st.Queues.OutQueuedBytes, "nothing left running: %+v", st)
			assert.Zero(t, st.Queues.Dropped, "the Disconnect was queued, not dropped")
			require.ErrorIs(t, recvErr(t, connectErr, "Connect"), ErrPoolClosed)
			assert.Equal(t, ReasonPoolClosed, disconnectError(t, recvErr(t, readErr, "Read")).Reason)
			assert.Equal(t, ReasonPoolClosed, disconnectError(t, recvErr(t, writeErr, "Write")).Reason)
			assert.Equal(t, io.EOF, waitRemoteEOF(t, silentIn), "the incoming handshake was closed")

			// The peer gets what was written whole, then the cut: the
			// Disconnect queued behind never went out.
			got, de := readAll(t, cb)
			assert.Equal(t, sent[:poolHolds], got)
			assert.Equal(t, ReasonRemoteClosed, de.Reason)

			require.NoError(t, b.Close())
			silent.close()
			goleak.VerifyNone(t, leftover)
		})
	}
}

func TestClosedPoolRefusesCalls(t *testing.T) {
	closers := []struct {
		name  string
		close func(context.Context, *testPool) error
		// peer is how the peer's end of a connection ends.
		peer DisconnectReason
	}{
		{"Close", func(_ context.Context, p *testPool) error { return p.Close() }, ReasonRemoteClosed},
		{"Shutdown", func(ctx context.Context, p *testPool) error { return p.Shutdown(ctx) }, ReasonRemoteDisconnect},
	}
	for _, name := range networks {
		for _, closer := range closers {
			t.Run(name+"/"+closer.name, func(t *testing.T) {
				testClosedPoolRefusesCalls(t, newNetwork(name), closer.close, closer.peer)
			})
		}
	}
}

func testClosedPoolRefusesCalls(t *testing.T, n *network, closePool func(context.Context, *testPool) error, peerReason DisconnectReason) {
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	ca, cb := connect(t, a, b)
	require.NoError(t, closePool(ctxT(t), a.testPool))
	select {
	case <-a.life.done:
	default:
		t.Fatal("Done not closed")
	}
	assert.Equal(t, ReasonPoolClosed, disconnectError(t, ca.Err()).Reason)
	assert.Equal(t, peerReason, endReason(t, cb).Reason)

	ctx := ctxT(t)
	cases := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"Connect", func(t *testing.T) error { _, err := a.Connect(ctx, b.point); return err }},
		{"Accept", func(t *testing.T) error {
			mine, theirs := n.connPair(t)
			defer theirs.Close()
			_, err := a.Accept(ctx, mine)
			_, rerr := theirs.Read(make([]byte, 1))
			assert.Equal(t, io.EOF, rerr, "Accept closes the connection it refuses")
			return err
		}},
		{"Serve", func(t *testing.T) error {
			ln := n.listen(t)
			err := a.Serve(ln)
			_, aerr := ln.Accept()
			assert.Error(t, aerr, "Serve closes the listener it refuses")
			return err
		}},
		{"WriteAll", func(t *testing.T) error { _, err := a.WriteAll("x"); return err }},
		{"Read", func(t *testing.T) error { _, _, err := a.Read(ctx); return err }},
		{"ReadBatch", func(t *testing.T) error { _, _, err := a.ReadBatch(ctx, nil); return err }},
		{"ConnectPoint", func(t *testing.T) error { _, err := a.ConnectPoint(ctx, b.point.String()); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.call(t), ErrPoolClosed)
		})
	}
	// Connections of the closed pool say why they ended.
	assert.Equal(t, ReasonPoolClosed, disconnectError(t, ca.Write(ctx, "x")).Reason)
	assert.Equal(t, ReasonPoolClosed, disconnectError(t, ca.WriteNow("x")).Reason)
	_, err := ca.Read(ctx)
	assert.Equal(t, ReasonPoolClosed, disconnectError(t, err).Reason)
	_, err = ca.ReadBatch(ctx, nil)
	assert.Equal(t, ReasonPoolClosed, disconnectError(t, err).Reason)
	a.BroadcastBootstrap() // a no-op
	// Close and Shutdown are idempotent.
	require.NoError(t, a.Close())
	require.NoError(t, a.Shutdown(ctx))
	assert.Zero(t, a.Conns().Len())
}

// stuckDialer's dials wait for their context to end, then fail as net's
// do: with an error that does not wrap the context's.
type stuckDialer struct{ dialing chan struct{} }

func (d stuckDialer) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	d.dialing <- struct{}{}
	<-ctx.Done()
	return nil, errors.New("dial tcp " + address + ": operation was canceled")
}

func TestConnectCutShortDuringDial(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		// cut ends the dial; it returns the error Connect must match.
		cut func(t *testing.T, p *testPool, cancel context.CancelFunc) error
	}{
		{"caller cancels", 0, func(_ *testing.T, _ *testPool, cancel context.CancelFunc) error {
			cancel()
			return context.Canceled
		}},
		{"connection timeout", 50 * time.Millisecond, func(*testing.T, *testPool, context.CancelFunc) error {
			return ErrTimeout
		}},
		{"pool closes", 0, func(t *testing.T, p *testPool, _ context.CancelFunc) error {
			require.NoError(t, p.Close())
			return ErrPoolClosed
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := stuckDialer{dialing: make(chan struct{}, 1)}
			a := newNode(t, newNetwork("mem"), func(c *Config) { c.Dialer = d; c.Timeouts.Connection = tc.timeout })
			pt := netip.MustParseAddrPort("192.0.2.1:9732")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan error, 1)
			go func() { _, err := a.Connect(ctx, pt); res <- err }()
			select {
			case <-d.dialing:
			case <-time.After(waitTimeout):
				t.Fatal("Connect did not dial")
			}
			want := tc.cut(t, a.testPool, cancel)
			err := recvErr(t, res, "Connect")
			require.ErrorIs(t, err, want)
			assert.NotErrorIs(t, err, ErrConnectionFailed)
			state, _ := pointState(a.testPool, pt)
			assert.Equal(t, PointDisconnected, state, "the point can be dialled again")
		})
	}
}

// blockingListener's Accept blocks until Close, like an idle TCP listener.
type blockingListener struct {
	once   sync.Once
	closed chan struct{}
}

func newBlockingListener() *blockingListener { return &blockingListener{closed: make(chan struct{})} }

func (l *blockingListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *blockingListener) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }
func (l *blockingListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 9732}
}

// TestCloseWhileServeStarts closes the pool while Serve is starting, at
// the moment it has entered: Close must close the listener Serve
// registers, or it waits forever for that Serve's Accept loop. Then it
// loops Serve and Close racing freely.
func TestCloseWhileServeStarts(t *testing.T) {
	id := testIdentity(t)
	newPool := func() *testPool {
		p, err := NewBasic(textMessages(), Config{Identity: id, ProofOfWorkTarget: NoProofOfWork, Maintenance: MaintenanceConfig{IdleTime: Disabled}})
		require.NoError(t, err)
		return p
	}
	run := func(t *testing.T, p *testPool, closeNow func()) {
		ln := newBlockingListener()
		served := make(chan error, 1)
		go func() { served <- p.Serve(ln) }()
		closed := make(chan struct{})
		go func() { closeNow(); p.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(waitTimeout):
			t.Fatal("Close did not return while Serve was starting")
		}
		require.ErrorIs(t, recvErr(t, served, "Serve"), ErrPoolClosed)
		select {
		case <-ln.closed:
		default:
			t.Fatal("the listener was left open")
		}
	}
	t.Run("at registration", func(t *testing.T) {
		p := newPool()
		entered, closing := make(chan struct{}), make(chan struct{})
		testHookServeRegistered = func() { close(entered); <-p.life.done; close(closing) }
		defer func() { testHookServeRegistered = func() {} }()
		run(t, p, func() { <-entered })
		<-closing
	})
	t.Run("racing", func(t *testing.T) {
		for range 200 {
			run(t, newPool(), runtime.Gosched)
		}
	})
}

// TestConnectCutShortDuringHandshake: the peer accepts the socket and
// says nothing, so Connect waits in the handshake until something ends
// it, and says what did, as its doc promises: the caller's ctx (its
// cause: context.Canceled, a cause of the caller's, or
// context.DeadlineExceeded for a deadline earlier than
// Timeouts.Connection) or Timeouts.Connection (ErrTimeout). Before, a
// ctx deadline gave ErrTimeout.
func TestConnectCutShortDuringHandshake(t *testing.T) {
	errMine := errors.New("caller's cause")
	cases := []struct {
		name string
		// ctx makes the caller's context; want is what Connect matches,
		// notWant what it must not.
		ctx           func() (context.Context, context.CancelFunc)
		timeout       time.Duration
		cancel        bool
		want, notWant error
	}{
		{"caller cancels", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			time.Hour, true, context.Canceled, ErrTimeout},
		{"caller cancels with a cause", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(context.Background())
			return ctx, func() { cancel(errMine) }
		}, time.Hour, true, errMine, ErrTimeout},
		{"caller's deadline first", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, time.Hour, false, context.DeadlineExceeded, ErrTimeout},
		{"caller's deadline with a cause", func() (context.Context, context.CancelFunc) {
			return context.WithTimeoutCause(context.Background(), time.Second, errMine)
		}, time.Hour, false, errMine, ErrTimeout},
		{"ConnectionTimeout first", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}, time.Second, false, ErrTimeout, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				silent := newSilentListener(t, n)
				a := newNode(t, n, func(c *Config) { c.Timeouts.Connection = tc.timeout })
				ctx, cancel := tc.ctx()
				defer cancel()
				res := make(chan error, 1)
				start := time.Now()
				go func() { _, err := a.Connect(ctx, silent.point); res <- err }()
				silent.waitHeard(t)
				if tc.cancel {
					cancel()
				}
				err := <-res
				require.ErrorIs(t, err, tc.want)
				assert.NotErrorIs(t, err, tc.notWant)
				if !tc.cancel {
					assert.Equal(t, time.Second, time.Since(start), "ended by the earlier bound")
				}
				state, _ := pointState(a.testPool, silent.point)
				assert.Equal(t, PointDisconnected, state)
				silent.close()
			})
		})
	}
}

// TestCloseCutsHandshakesWithErrPoolClosed: a handshake cut by Close says
// so (ErrPoolClosed), whether Serve started it (under the pool's own
// context, whose cause it is, with no watcher of its own) or the caller's
// Accept (a watcher of the pool's close on the caller's context); the
// peer connected and said nothing, so only Close can end it before the
// timeouts.
func TestCloseCutsHandshakesWithErrPoolClosed(t *testing.T) {
	for _, served := range []bool{true, false} {
		name := "Accept"
		if served {
			name = "Serve"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n,
					Maintenance: MaintenanceConfig{IdleTime: Disabled},
					Timeouts:    TimeoutConfig{Authentication: time.Hour, FirstMessage: time.Hour}}
				p, err := NewBasic(textMessages(), cfg)
				require.NoError(t, err)
				defer p.Close()
				w := p.Watch(context.Background(), 0)
				defer w.Close()
				ln := n.listen(t)
				accepted := make(chan error, 1)
				if served {
					go p.Serve(ln)
				} else {
					go func() {
						nc, err := ln.Accept()
						if err != nil {
							accepted <- err
							return
						}
						_, err = p.Accept(context.Background(), nc)
						accepted <- err
					}()
				}
				nc, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
				require.NoError(t, err)
				defer nc.Close()
				synctest.Wait() // the pool waits for the connection message
				require.NoError(t, p.Close())
				if !served {
					require.ErrorIs(t, <-accepted, ErrPoolClosed)
				}
				for {
					e, err := w.Next(context.Background())
					require.NoError(t, err, "no AuthenticationFailed event")
					if e.Kind == EventAuthenticationFailed {
						require.ErrorIs(t, e.Err, ErrPoolClosed)
						break
					}
				}
			})
		})
	}
}
