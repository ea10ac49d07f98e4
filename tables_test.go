package p2ppool

import (
	"context"
	"math"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Tests of the point and peer tables (spec §1, octez P2p_point_state and
// P2p_peer_state): every transition with what it records and the history
// entry it adds, the bounded histories, and the reconnection back-off.
// They run in synctest bubbles over the harness's mem network, where the
// clock only moves when every goroutine is blocked: the times the tables
// record are exact.
//
// This file also holds the helpers of gc_test.go, acl_test.go and
// events_pool_test.go.

// fromAddr is a Dialer on the mem network n whose connections all come
// from the address src (each from a new port). The harness's own dialer
// gives every connection a new address; tests of bans, greylists and
// expected peers need to know it beforehand.
type fromAddr struct {
	n   *network
	src netip.Addr
}

func (d fromAddr) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	return d.n.dialFrom(ctx, address, d.src)
}

// unplug makes dials to the mem point pt fail, as if nothing listened
// there, until replug is called.
func unplug(n *network, pt netip.AddrPort) (replug func()) { return n.unplug(pt) }

// nowhere is the i-th of a set of mem points nothing listens on: dials to
// them fail at once.
func nowhere(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 99, 0, byte(i)}), 9732)
}

// connResult is the outcome of a Connect run on its own goroutine.
type connResult struct {
	c   *testConn
	err error
}

func goConnect(p *testPool, pt netip.AddrPort) <-chan connResult {
	res := make(chan connResult, 1)
	go func() {
		c, err := p.Connect(context.Background(), pt)
		res <- connResult{c, err}
	}()
	return res
}

// connectSettled is connect for synctest bubbles: it lets both pools
// settle instead of polling, so the clock does not move.
func connectSettled(t testing.TB, a, b *node) (*testConn, *testConn) {
	t.Helper()
	ca, err := a.Connect(context.Background(), b.point)
	require.NoError(t, err)
	synctest.Wait()
	cb, ok := b.Conns().ByPeer(a.Config().Identity.PeerID)
	require.True(t, ok, "%v has no connection with %v", b.point, a.point)
	return ca, cb
}

// scriptedServer is a mem listener whose peer runs the real handshake up
// to the ack and lets the test decide what comes next: ack, nack or hang
// up.
type scriptedServer struct {
	id    *Identity
	point netip.AddrPort
	ln    net.Listener
}

func newScriptedServer(t testing.TB, n *network) *scriptedServer {
	t.Helper()
	ln := n.listen(t)
	t.Cleanup(func() { ln.Close() })
	return &scriptedServer{id: testIdentity(t), point: ln.Addr().(*net.TCPAddr).AddrPort(), ln: ln}
}

// handshake accepts the next connection and runs the handshake up to the
// ack, announcing the server's port.
func (s *scriptedServer) handshake(t testing.TB) *socket.AuthConn {
	t.Helper()
	nc, err := s.ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	cfg := rawConfig(t, s.id, wire.Metadata{})
	cfg.Port = s.point.Port()
	auth, err := socket.Authenticate(context.Background(), nc, true, &cfg)
	require.NoError(t, err)
	return auth
}

// scriptedDial dials nd through d as the peer id announcing port (0:
// none) and runs the handshake up to the ack.
func scriptedDial(t testing.TB, d Dialer, nd *node, id *Identity, port uint16) *socket.AuthConn {
	t.Helper()
	nc, err := d.DialContext(context.Background(), "tcp", nd.point.String())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	cfg := rawConfig(t, id, wire.Metadata{})
	cfg.Port = port
	auth, err := socket.Authenticate(context.Background(), nc, false, &cfg)
	require.NoError(t, err)
	return auth
}

// Records are compared with their times stripped of monotonic readings.

func normPointInfo(pi PointInfo) PointInfo {
	pi.LastFailedConnection = pi.LastFailedConnection.Round(0)
	pi.LastRejectedConnection.Time = pi.LastRejectedConnection.Time.Round(0)
	pi.LastEstablishedConnection.Time = pi.LastEstablishedConnection.Time.Round(0)
	pi.LastDisconnection.Time = pi.LastDisconnection.Time.Round(0)
	pi.ReconnectAfter = pi.ReconnectAfter.Round(0)
	return pi
}

func normPeerInfo[M any](pi PeerInfo[M]) PeerInfo[M] {
	pi.Created = pi.Created.Round(0)
	pi.LastFailedConnection.Time = pi.LastFailedConnection.Time.Round(0)
	pi.LastRejectedConnection.Time = pi.LastRejectedConnection.Time.Round(0)
	pi.LastEstablishedConnection.Time = pi.LastEstablishedConnection.Time.Round(0)
	pi.LastDisconnection.Time = pi.LastDisconnection.Time.Round(0)
	return pi
}

func normPointEvents(es []PointEvent) []PointEvent {
	out := make([]PointEvent, len(es))
	for i, e := range es {
		e.Time = e.Time.Round(0)
		out[i] = e
	}
	return out
}

func normPeerEvents(es []PeerEvent) []PeerEvent {
	out := make([]PeerEvent, len(es))
	for i, e := range es {
		e.Time = e.Time.Round(0)
		out[i] = e
	}
	return out
}

// requirePoint checks the whole record and history of pt.
func requirePoint(t testing.TB, p *testPool, want PointInfo, events []PointEvent) {
	t.Helper()
	got, ok := p.Points().Info(want.Point)
	require.True(t, ok, "point %v unknown", want.Point)
	assert.Equal(t, normPointInfo(want), normPointInfo(got), "record of %v", want.Point)
	assert.Equal(t, normPointEvents(events), normPointEvents(p.Points().Events(want.Point)), "history of %v", want.Point)
}

// requirePeer checks the whole record and history of a peer.
func requirePeer(t testing.TB, p *testPool, want PeerInfo[struct{}], events []PeerEvent) {
	t.Helper()
	got, ok := p.Peers().Info(want.Peer)
	require.True(t, ok, "peer %v unknown", want.Peer)
	assert.Equal(t, normPeerInfo(want), normPeerInfo(got), "record of %v", want.Peer)
	assert.Equal(t, normPeerEvents(events), normPeerEvents(p.Peers().Events(want.Peer)), "history of %v", want.Peer)
}

// tenv is the state of a transition scenario.
type tenv struct {
	n    *network
	a    *node // the pool whose tables are checked
	t0   time.Time
	srv  *scriptedServer
	auth *socket.AuthConn
	sc   *socket.Conn
	res  <-chan connResult
	conn *testConn
	pt   netip.AddrPort // the point checked; invalid: the pool knows no point
	peer PeerID         // the peer checked; zero: the pool knows no peer
}

// at is the scenario's start plus k seconds.
func (e *tenv) at(k float64) time.Time { return e.t0.Add(time.Duration(k * float64(time.Second))) }

// Addresses for fromAddr dialers: no other mem connection comes from
// them.
var (
	srcA = netip.MustParseAddr("10.7.0.1")
	srcB = netip.MustParseAddr("10.7.0.2")
	srcC = netip.MustParseAddr("10.7.0.3")
)

// The steps shared by several scenarios.

// dialScripted has a dial a scripted server and stops when a waits for
// the server's ack: point and peer are accepted.
func dialScripted(t *testing.T, e *tenv) {
	e.srv = newScriptedServer(t, e.n)
	e.pt, e.peer = e.srv.point, e.srv.id.PeerID
	e.res = goConnect(e.a.testPool, e.srv.point)
	e.auth = e.srv.handshake(t)
	synctest.Wait()
}

// scriptedDialsIn has a scripted peer dial a from srcA, announcing port
// (none if 0), and stops when it has passed a's admission.
func scriptedDialsIn(port uint16) func(t *testing.T, e *tenv) {
	return func(t *testing.T, e *tenv) {
		id := testIdentity(t)
		e.peer = id.PeerID
		if port != 0 {
			e.pt = netip.AddrPortFrom(srcA, port)
		}
		e.auth = scriptedDial(t, fromAddr{e.n, srcA}, e.a, id, port)
		synctest.Wait()
	}
}

func TestTableTransitions(t *testing.T) {
	const (
		initial    = time.Second
		afterFirst = 1200 * time.Millisecond // initial × 1.2
		disconnect = time.Minute
	)
	type step struct {
		name string
		// act runs 1 s after the previous step (the first at e.t0).
		act func(t *testing.T, e *tenv)
		// want returns the point's record and history, and the peer's,
		// after act. A nil history means the pool does not know it.
		want func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		steps  []step
	}{
		{"outgoing, dial refused: Requested -> Disconnected with LastFailedConnection and back-off", nil, []step{
			{"connect", func(t *testing.T, e *tenv) {
				e.pt = nowhere(1)
				_, err := e.a.Connect(context.Background(), e.pt)
				require.ErrorIs(t, err, ErrConnectionFailed)
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, LastFailedConnection: e.at(0),
						ReconnectionDelay: afterFirst, ReconnectAfter: e.at(0).Add(initial)},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventRequestRejected, e.at(0), PeerID{}}},
					PeerInfo[struct{}]{}, nil
			}},
		}},
		{"outgoing, handshake timeout: Disconnected -> Requested -> Disconnected", func(c *Config) { c.Timeouts.Connection = 3 * time.Second }, []step{
			{"connect to a silent listener", func(t *testing.T, e *tenv) {
				s := newSilentListener(t, e.n)
				e.pt = s.point
				e.res = goConnect(e.a.testPool, s.point)
				synctest.Wait()
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointRequested},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}},
					PeerInfo[struct{}]{}, nil
			}},
			{"time out", func(t *testing.T, e *tenv) {
				r := <-e.res
				require.ErrorIs(t, r.err, ErrTimeout)
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, LastFailedConnection: e.at(3),
						ReconnectionDelay: afterFirst, ReconnectAfter: e.at(3).Add(initial)},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventRequestRejected, e.at(3), PeerID{}}},
					PeerInfo[struct{}]{}, nil
			}},
		}},
		{"outgoing, the peer nacks: Requested -> Accepted -> Disconnected with LastRejectedConnection", nil, []step{
			{"handshake up to the ack", dialScripted, wantOutgoingAccepted},
			{"the peer nacks", func(t *testing.T, e *tenv) {
				require.NoError(t, e.auth.Nack(wire.TooManyConnections, nil))
				r := <-e.res
				var rej *RejectedError
				require.ErrorAs(t, r.err, &rej)
				assert.Equal(t, NackTooManyConnections, rej.Motive)
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, KnownPublic: true,
						LastRejectedConnection: PeerAt{e.peer, e.at(1)},
						ReconnectionDelay:      afterFirst, ReconnectAfter: e.at(1).Add(initial)},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventAcceptingRequest, e.at(0), e.peer},
						{PointEventRequestRejected, e.at(1), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerDisconnected, Score: 1,
						LastRejectedConnection: PointAt{e.pt, e.at(1)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventRequestRejected, e.at(1), e.pt}}
			}},
		}},
		{"outgoing, established then closed by the peer: Accepted -> Running -> Disconnected", nil, []step{
			{"handshake up to the ack", dialScripted, wantOutgoingAccepted},
			{"the peer acks", func(t *testing.T, e *tenv) {
				var err error
				e.sc, err = e.auth.Accept()
				require.NoError(t, err)
				r := <-e.res
				require.NoError(t, r.err)
				e.conn = r.c
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointRunning, Peer: e.peer, KnownPublic: true,
						LastEstablishedConnection: PeerAt{e.peer, e.at(1)}},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventAcceptingRequest, e.at(0), e.peer},
						{PointEventConnectionEstablished, e.at(1), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerRunning, Point: e.pt, Score: 1,
						LastEstablishedConnection: PointAt{e.pt, e.at(1)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventConnectionEstablished, e.at(1), e.pt}}
			}},
			{"the peer closes", func(t *testing.T, e *tenv) {
				require.NoError(t, e.sc.Close())
				<-e.conn.Done()
				assert.Equal(t, ReasonRemoteClosed, disconnectError(t, e.conn.Err()).Reason)
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, KnownPublic: true,
						LastEstablishedConnection: PeerAt{e.peer, e.at(1)}, LastDisconnection: PeerAt{e.peer, e.at(2)},
						ReconnectionDelay: initial, ReconnectAfter: e.at(2).Add(disconnect)},
					[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventAcceptingRequest, e.at(0), e.peer},
						{PointEventConnectionEstablished, e.at(1), e.peer}, {PointEventExternalDisconnection, e.at(2), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerDisconnected, Score: 1,
						LastEstablishedConnection: PointAt{e.pt, e.at(1)}, LastDisconnection: PointAt{e.pt, e.at(2)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventConnectionEstablished, e.at(1), e.pt},
						{PeerEventExternalDisconnection, e.at(2), e.pt}}
			}},
		}},
		{"incoming, established then disconnected locally: Disconnected -> Accepted -> Running -> Disconnected", nil, []step{
			{"handshake up to the ack", scriptedDialsIn(7000), wantIncomingAccepted},
			{"the peer acks", func(t *testing.T, e *tenv) {
				var err error
				e.sc, err = e.auth.Accept()
				require.NoError(t, err)
				synctest.Wait()
				var ok bool
				e.conn, ok = e.a.Conns().ByPeer(e.peer)
				require.True(t, ok)
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointRunning, Peer: e.peer, KnownPublic: true, Learned: true,
						LastEstablishedConnection: PeerAt{e.peer, e.at(1)}},
					[]PointEvent{{PointEventAcceptingRequest, e.at(0), e.peer}, {PointEventConnectionEstablished, e.at(1), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerRunning, Point: e.pt, Score: 1,
						LastEstablishedConnection: PointAt{e.pt, e.at(1)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventConnectionEstablished, e.at(1), e.pt}}
			}},
			{"disconnect", func(t *testing.T, e *tenv) {
				require.NoError(t, e.conn.Disconnect(context.Background(), false))
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, KnownPublic: true, Learned: true,
						LastEstablishedConnection: PeerAt{e.peer, e.at(1)}, LastDisconnection: PeerAt{e.peer, e.at(2)},
						ReconnectionDelay: initial, ReconnectAfter: e.at(2).Add(disconnect)},
					[]PointEvent{{PointEventAcceptingRequest, e.at(0), e.peer}, {PointEventConnectionEstablished, e.at(1), e.peer},
						{PointEventExternalDisconnection, e.at(2), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerDisconnected, Score: 1,
						LastEstablishedConnection: PointAt{e.pt, e.at(1)}, LastDisconnection: PointAt{e.pt, e.at(2)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventConnectionEstablished, e.at(1), e.pt},
						{PeerEventExternalDisconnection, e.at(2), e.pt}}
			}},
		}},
		{"incoming, the peer hangs up at the ack: Accepted -> Disconnected with LastRejectedConnection", nil, []step{
			{"handshake up to the ack", scriptedDialsIn(7000), wantIncomingAccepted},
			{"the peer hangs up", func(t *testing.T, e *tenv) {
				require.NoError(t, e.auth.Close())
				synctest.Wait()
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{Point: e.pt, State: PointDisconnected, KnownPublic: true, Learned: true,
						LastRejectedConnection: PeerAt{e.peer, e.at(1)},
						ReconnectionDelay:      afterFirst, ReconnectAfter: e.at(1).Add(initial)},
					[]PointEvent{{PointEventAcceptingRequest, e.at(0), e.peer}, {PointEventRequestRejected, e.at(1), e.peer}},
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerDisconnected, Score: 1,
						LastRejectedConnection: PointAt{e.pt, e.at(1)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}, {PeerEventRequestRejected, e.at(1), e.pt}}
			}},
		}},
		{"incoming without a listening port: the peer has no point", nil, []step{
			{"handshake up to the ack", scriptedDialsIn(0), func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{}, nil,
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerAccepted, Score: 1},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), netip.AddrPort{}}}
			}},
			{"the peer acks", func(t *testing.T, e *tenv) {
				var err error
				e.sc, err = e.auth.Accept()
				require.NoError(t, err)
				synctest.Wait()
			}, func(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
				return PointInfo{}, nil,
					PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerRunning, Score: 1,
						LastEstablishedConnection: PointAt{netip.AddrPort{}, e.at(1)}},
					[]PeerEvent{{PeerEventIncomingRequest, e.at(0), netip.AddrPort{}}, {PeerEventConnectionEstablished, e.at(1), netip.AddrPort{}}}
			}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				e := &tenv{n: n, a: newNode(t, n, tc.mutate)}
				e.t0 = time.Now()
				for i, s := range tc.steps {
					if i > 0 {
						time.Sleep(time.Second)
					}
					s.act(t, e)
					point, pointEvents, peer, peerEvents := s.want(e)
					if pointEvents != nil {
						requirePoint(t, e.a.testPool, point, pointEvents)
					} else {
						for pt := range e.a.Points().All() {
							t.Errorf("step %q: unexpected point %v", s.name, pt)
						}
					}
					if peerEvents != nil {
						requirePeer(t, e.a.testPool, peer, peerEvents)
					} else {
						for id := range e.a.Peers().All() {
							t.Errorf("step %q: unexpected peer %v", s.name, id)
						}
					}
					if t.Failed() {
						t.Fatalf("step %q failed", s.name)
					}
				}
			})
		})
	}
}

// wantOutgoingAccepted: a dialled the scripted server, which passed a's
// admission; both wait for the other's ack.
func wantOutgoingAccepted(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
	return PointInfo{Point: e.pt, State: PointAccepted, Peer: e.peer, KnownPublic: true},
		[]PointEvent{{PointEventOutgoingRequest, e.at(0), PeerID{}}, {PointEventAcceptingRequest, e.at(0), e.peer}},
		PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerAccepted, Point: e.pt, Score: 1},
		[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}}
}

// wantIncomingAccepted: a scripted peer dialled a and passed its
// admission; the point is the peer's address and announced port, a point
// learned from the peer.
func wantIncomingAccepted(e *tenv) (PointInfo, []PointEvent, PeerInfo[struct{}], []PeerEvent) {
	return PointInfo{Point: e.pt, State: PointAccepted, Peer: e.peer, KnownPublic: true, Learned: true},
		[]PointEvent{{PointEventAcceptingRequest, e.at(0), e.peer}},
		PeerInfo[struct{}]{Peer: e.peer, Created: e.at(0), State: PeerAccepted, Point: e.pt, Score: 1},
		[]PeerEvent{{PeerEventIncomingRequest, e.at(0), e.pt}}
}

func TestTableHistoriesAreBounded(t *testing.T) {
	// Three connect/disconnect cycles write 4 point entries and 3 peer
	// entries each; the histories keep the last 5 and 4, oldest first.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a := newNode(t, n, func(c *Config) { c.Tables.PointsHistorySize, c.Tables.PeerIDsHistorySize = 5, 4 })
		b := newNode(t, n, nil)
		peer := b.Config().Identity.PeerID
		var starts, ends []time.Time
		for range 3 {
			time.Sleep(time.Second)
			starts = append(starts, time.Now())
			ca, _ := connectSettled(t, a, b)
			time.Sleep(time.Second)
			ends = append(ends, time.Now())
			require.NoError(t, ca.Disconnect(context.Background(), false))
			synctest.Wait()
		}
		assert.Equal(t, normPointEvents([]PointEvent{
			{PointEventExternalDisconnection, ends[1], peer},
			{PointEventOutgoingRequest, starts[2], PeerID{}},
			{PointEventAcceptingRequest, starts[2], peer},
			{PointEventConnectionEstablished, starts[2], peer},
			{PointEventExternalDisconnection, ends[2], peer},
		}), normPointEvents(a.Points().Events(b.point)))
		assert.Equal(t, normPeerEvents([]PeerEvent{
			{PeerEventExternalDisconnection, ends[1], b.point},
			{PeerEventIncomingRequest, starts[2], b.point},
			{PeerEventConnectionEstablished, starts[2], b.point},
			{PeerEventExternalDisconnection, ends[2], b.point},
		}), normPeerEvents(a.Peers().Events(peer)))
		// The default keeps 100: b's histories of a hold all of it.
		assert.Len(t, b.Peers().Events(a.Config().Identity.PeerID), 9)
		assert.Nil(t, a.Points().Events(nowhere(1)), "unknown point")
		assert.Nil(t, a.Peers().Events(PeerID{1}), "unknown peer")
	})
}

func TestPointBackoff(t *testing.T) {
	t.Run("repeated dial failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			a := newNode(t, n, func(c *Config) { c.Reconnection.IncreaseCap = 2 * time.Second })
			pt := nowhere(1)
			// Each failure bans the point for the current delay and
			// multiplies the delay by 1.2, up to the cap.
			delays := []time.Duration{time.Second, 1200 * time.Millisecond, 1440 * time.Millisecond,
				1728 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second}
			for i, d := range delays[:len(delays)-1] {
				now := time.Now()
				_, err := a.Connect(context.Background(), pt)
				require.ErrorIs(t, err, ErrConnectionFailed)
				pi, _ := a.Points().Info(pt)
				assert.Equal(t, now.Round(0), pi.LastFailedConnection.Round(0), "failure %d", i)
				assert.Equal(t, now.Add(d).Round(0), pi.ReconnectAfter.Round(0), "failure %d", i)
				assert.Equal(t, delays[i+1], pi.ReconnectionDelay, "failure %d", i)
				// octez cannot_reconnect_yet: now <= end_time.
				assert.False(t, pi.CanReconnect(now))
				assert.False(t, pi.CanReconnect(pi.ReconnectAfter.Add(-time.Nanosecond)))
				assert.False(t, pi.CanReconnect(pi.ReconnectAfter))
				assert.True(t, pi.CanReconnect(pi.ReconnectAfter.Add(time.Nanosecond)))
				time.Sleep(d + time.Nanosecond)
				pi, _ = a.Points().Info(pt)
				assert.True(t, pi.CanReconnect(time.Now()))
			}
			// Connect itself ignores the back-off: it dials at once.
			now := time.Now()
			_, err := a.Connect(context.Background(), pt)
			require.ErrorIs(t, err, ErrConnectionFailed)
			_, err = a.Connect(context.Background(), pt)
			require.ErrorIs(t, err, ErrConnectionFailed)
			pi, _ := a.Points().Info(pt)
			assert.Equal(t, now.Add(2*time.Second).Round(0), pi.ReconnectAfter.Round(0))
			assert.Len(t, a.Points().Events(pt), 2*(len(delays)+1))
		})
	})
	t.Run("default factor and cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			a := newNode(t, n, nil)
			pt := nowhere(2)
			// 1.2^66 s < 48 h < 1.2^67 s: the 67th failure reaches the cap.
			for i := 1; i <= 68; i++ {
				_, err := a.Connect(context.Background(), pt)
				require.ErrorIs(t, err, ErrConnectionFailed)
				pi, _ := a.Points().Info(pt)
				want := time.Duration(math.Pow(1.2, float64(i)) * float64(time.Second))
				if i >= 67 {
					assert.Equal(t, 48*time.Hour, pi.ReconnectionDelay, "failure %d", i)
				} else {
					assert.InDelta(t, float64(want), float64(pi.ReconnectionDelay), float64(time.Millisecond), "failure %d", i)
				}
			}
		})
	})
	t.Run("a connection keeps the delay, its end resets it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			rc := ReconnectionConfig{Factor: 1.5, InitialDelay: 2 * time.Second, DisconnectionDelay: 7 * time.Second, IncreaseCap: time.Hour}
			a := newNode(t, n, func(c *Config) { c.Reconnection = rc })
			b := newNode(t, n, nil)
			fail := func() time.Time {
				t.Helper()
				replug := unplug(n, b.point)
				defer replug()
				now := time.Now()
				_, err := a.Connect(context.Background(), b.point)
				require.ErrorIs(t, err, ErrConnectionFailed)
				return now
			}
			fail()
			time.Sleep(time.Second)
			t1 := fail()
			pi, _ := a.Points().Info(b.point)
			assert.Equal(t, t1.Add(3*time.Second).Round(0), pi.ReconnectAfter.Round(0), "2 s × 1.5")
			assert.Equal(t, 4500*time.Millisecond, pi.ReconnectionDelay)

			time.Sleep(time.Second)
			ca, _ := connectSettled(t, a, b)
			pi, _ = a.Points().Info(b.point)
			assert.Equal(t, PointRunning, pi.State)
			assert.Equal(t, 4500*time.Millisecond, pi.ReconnectionDelay, "a success does not reset the delay")
			assert.Equal(t, t1.Add(3*time.Second).Round(0), pi.ReconnectAfter.Round(0))

			time.Sleep(time.Second)
			t2 := time.Now()
			require.NoError(t, ca.Disconnect(context.Background(), false))
			pi, _ = a.Points().Info(b.point)
			assert.Equal(t, rc.InitialDelay, pi.ReconnectionDelay, "the end of a connection resets the delay")
			assert.Equal(t, t2.Add(rc.DisconnectionDelay).Round(0), pi.ReconnectAfter.Round(0))
			assert.False(t, pi.CanReconnect(t2.Add(rc.DisconnectionDelay)))
			synctest.Wait()

			time.Sleep(time.Second)
			t3 := fail()
			pi, _ = a.Points().Info(b.point)
			assert.Equal(t, t3.Add(rc.InitialDelay).Round(0), pi.ReconnectAfter.Round(0))
			assert.Equal(t, 3*time.Second, pi.ReconnectionDelay)
		})
	})
}

func TestLastSeenAndLastMiss(t *testing.T) {
	// octez most_recent keeps its first argument on a tie: the order of
	// the fields in last_seen and last_miss decides.
	t1 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	t2 := t1.Add(time.Second)
	p1, p2, p3 := PeerID{1}, PeerID{2}, PeerID{3}
	pointCases := []struct {
		name string
		pi   PointInfo
		seen PeerAt
		miss time.Time
	}{
		{"nothing", PointInfo{}, PeerAt{}, time.Time{}},
		{"established: seen, not missed", PointInfo{LastEstablishedConnection: PeerAt{p1, t1}}, PeerAt{p1, t1}, time.Time{}},
		{"failed: missed, not seen", PointInfo{LastFailedConnection: t1}, PeerAt{}, t1},
		{"the latest wins", PointInfo{LastEstablishedConnection: PeerAt{p1, t1}, LastDisconnection: PeerAt{p2, t2}, LastFailedConnection: t1},
			PeerAt{p2, t2}, t2},
		{"tie: rejected first", PointInfo{LastRejectedConnection: PeerAt{p1, t1}, LastEstablishedConnection: PeerAt{p2, t1},
			LastDisconnection: PeerAt{p3, t1}}, PeerAt{p1, t1}, t1},
		{"tie: established before disconnection", PointInfo{LastEstablishedConnection: PeerAt{p2, t1}, LastDisconnection: PeerAt{p3, t1}},
			PeerAt{p2, t1}, t1},
		{"a later failure is a miss only", PointInfo{LastRejectedConnection: PeerAt{p1, t1}, LastFailedConnection: t2}, PeerAt{p1, t1}, t2},
	}
	for _, tc := range pointCases {
		assert.Equal(t, tc.seen, tc.pi.LastSeen(), "point %s: LastSeen", tc.name)
		assert.Equal(t, tc.miss, tc.pi.LastMiss(), "point %s: LastMiss", tc.name)
	}
	x, y, z := nowhere(1), nowhere(2), nowhere(3)
	peerCases := []struct {
		name       string
		pi         PeerInfo[struct{}]
		seen, miss PointAt
	}{
		{"nothing", PeerInfo[struct{}]{}, PointAt{}, PointAt{}},
		{"the latest wins", PeerInfo[struct{}]{LastEstablishedConnection: PointAt{x, t1}, LastDisconnection: PointAt{y, t2}},
			PointAt{y, t2}, PointAt{y, t2}},
		{"tie: established first", PeerInfo[struct{}]{LastEstablishedConnection: PointAt{x, t1}, LastRejectedConnection: PointAt{y, t1},
			LastDisconnection: PointAt{z, t1}}, PointAt{x, t1}, PointAt{y, t1}},
		{"tie: failed first", PeerInfo[struct{}]{LastFailedConnection: PointAt{x, t1}, LastDisconnection: PointAt{z, t1}},
			PointAt{z, t1}, PointAt{x, t1}},
	}
	for _, tc := range peerCases {
		assert.Equal(t, tc.seen, tc.pi.LastSeen(), "peer %s: LastSeen", tc.name)
		assert.Equal(t, tc.miss, tc.pi.LastMiss(), "peer %s: LastMiss", tc.name)
	}
}
