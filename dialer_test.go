package p2ppool

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Tests of the dialer (dialer.go): the limiter every outgoing attempt goes
// through, the scope rule and the budget of learned points, swaps that
// dial only as the answer to our own request, and tables that stay within
// their caps whatever peers send. The floods run scripted hostile peers on
// the mem network under synctest, and count what a user would see: the
// dials the pool's Dialer is asked for, the goroutines, the table sizes.

func TestScopeOf(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want addrScope
	}{
		{"1.1.1.1", scopeGlobal},
		{"192.0.2.7", scopeGlobal}, // documentation: harmless to dial
		{"2001:db8::1", scopeGlobal},
		{"2a00:1450::1", scopeGlobal},
		{"10.1.2.3", scopePrivate},
		{"172.16.0.1", scopePrivate},
		{"172.31.255.255", scopePrivate},
		{"172.32.0.1", scopeGlobal},
		{"192.168.1.1", scopePrivate},
		{"100.64.0.1", scopePrivate}, // carrier-grade NAT
		{"fd00::1", scopePrivate},
		{"fec0::1", scopePrivate},
		{"169.254.169.254", scopeLinkLocal}, // the cloud metadata service
		{"fe80::1", scopeLinkLocal},
		{"127.0.0.1", scopeLoopback},
		{"127.200.3.4", scopeLoopback},
		{"::1", scopeLoopback},
		{"0.0.0.0", scopeNone},
		{"0.1.2.3", scopeNone},
		{"::", scopeNone},
		{"224.0.0.1", scopeNone},
		{"ff02::1", scopeNone},
		{"255.255.255.255", scopeNone},
		{"240.0.0.1", scopeNone},
		{"::a00:1", scopeNone}, // IPv4-compatible
		// IPv6 forms of IPv4 addresses take the IPv4 address's scope.
		{"::ffff:127.0.0.1", scopeLoopback},
		{"::ffff:10.0.0.1", scopePrivate},
		{"::ffff:169.254.169.254", scopeLinkLocal},
		{"64:ff9b::a00:1", scopePrivate},      // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", scopeLoopback},    // NAT64 of 127.0.0.1
		{"2002:a9fe:a9fe::1", scopeLinkLocal}, // 6to4 of 169.254.169.254
		{"2002:0808:0808::1", scopeGlobal},    // 6to4 of 8.8.8.8
	} {
		assert.Equal(t, tc.want, scopeOf(netip.MustParseAddr(tc.addr)), tc.addr)
	}
}

// TestLearnedPointsByScope: a peer may name points of the global scope or
// of its own, no narrower ones; AllowNonRoutable lifts the rule but for
// addresses no one can dial. The points refused are counted.
func TestLearnedPointsByScope(t *testing.T) {
	named := []string{"1.1.1.1", "10.0.0.1", "192.168.1.1", "::ffff:172.16.0.1", "fd00::1", "64:ff9b::a00:1",
		"127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "255.255.255.255"}
	for _, tc := range []struct {
		namer string
		allow bool
		want  []string // normalized
	}{
		{"203.0.113.5", false, []string{"1.1.1.1"}},
		{"10.9.9.9", false, []string{"1.1.1.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "fd00::1", "64:ff9b::a00:1"}},
		{"127.0.0.2", false, []string{"1.1.1.1", "127.0.0.1", "::1"}},
		{"169.254.1.1", false, []string{"1.1.1.1", "169.254.169.254", "fe80::1"}},
		{"203.0.113.5", true, []string{"1.1.1.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "fd00::1", "64:ff9b::a00:1",
			"127.0.0.1", "::1", "169.254.169.254", "fe80::1"}},
	} {
		t.Run(fmt.Sprintf("%s allow=%v", tc.namer, tc.allow), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				nd := newNode(t, n, func(c *Config) { c.Dial.AllowNonRoutable = tc.allow })
				sc := hostilePeer(t, n, nd, netip.MustParseAddr(tc.namer), 0)
				var pts []netip.AddrPort
				for _, a := range named {
					pts = append(pts, netip.AddrPortFrom(netip.MustParseAddr(a), 9732))
				}
				require.NoError(t, sc.WriteMessages(wireAdvertise(pts...)))
				synctest.Wait()
				var got []string
				for pt, pi := range nd.Points().All() {
					assert.True(t, pi.Learned, "%v", pt)
					got = append(got, pt.Addr().String())
				}
				assert.ElementsMatch(t, tc.want, got)
				dropped := uint64(len(named) - len(tc.want)) // the mapped loopback is the same point as 127.0.0.1
				if tc.namer == "127.0.0.2" || tc.allow {
					dropped--
				}
				assert.Equal(t, dropped, nd.Stats().Dial.LearnedNonRoutable)
				// The application giving a point makes it its own.
				one := netip.AddrPortFrom(netip.MustParseAddr("1.1.1.1"), 9732)
				require.NoError(t, nd.Points().Register(one))
				pi, _ := nd.Points().Info(one)
				assert.False(t, pi.Learned)
			})
		})
	}
}

// TestAdvertiseFloodDialsWithinBudget replays the port-scan attack: 20
// loopback peers each advertise 100 made-up points every 200 ms for 30 s,
// 90 on loopback (which loopback peers may name) and 10 private or
// link-local ones (which they may not). The pool, maintained and short of
// connections, dials the loopback points within the learned budget
// (Burst + Rate × 30 s, 80 by default; the bound is 200), never
// the others; the known-points table never exceeds its High mark and the
// dials in flight never exceed MaxInFlight.
func TestAdvertiseFloodDialsWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		dials := &countingDialer{d: n}
		ln, err := n.mem.Host("127.0.0.1").Listen("tcp", ":9732")
		require.NoError(t, err)
		cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: dials}
		noControlBudgets(&cfg)
		p, err := NewBasic(textMessages(), cfg)
		require.NoError(t, err)
		nd := serveNode(t, p, ln)
		var peers []*socket.Conn
		for i := range 20 {
			peers = append(peers, hostilePeer(t, n, nd, netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), 0))
		}
		forbidden := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.1"),
			netip.MustParseAddr("172.16.5.5"), netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fe80::1"),
			netip.MustParseAddr("::ffff:10.1.1.1"), netip.MustParseAddr("64:ff9b::c0a8:101"), netip.MustParseAddr("fd12::1"),
			netip.MustParseAddr("100.64.1.1"), netip.MustParseAddr("0.0.0.0")}
		synctest.Wait()
		start := time.Now()
		maxPoints, maxInFlight, round := 0, 0, 0
		for time.Since(start) < 30*time.Second {
			for i, sc := range peers {
				pts := make([]netip.AddrPort, 0, 100)
				for j := range 90 {
					k := round*100_000 + i*1000 + j
					pts = append(pts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(1 + k>>16), byte(k >> 8), byte(k)}), uint16(1000+j)))
				}
				for _, a := range forbidden {
					pts = append(pts, netip.AddrPortFrom(a, uint16(2000+round%1000)))
				}
				require.NoError(t, sc.WriteMessages(wireAdvertise(pts...)))
			}
			round++
			time.Sleep(200 * time.Millisecond)
			s := nd.Stats()
			maxPoints, maxInFlight = max(maxPoints, s.Tables.KnownPoints), max(maxInFlight, s.Dial.InFlight)
		}
		got := dials.list()
		s := nd.Stats()
		t.Logf("%d dials in 30 s (%d rounds of 2,000 points); most points known %d, most dials in flight %d; %v",
			len(got), round, maxPoints, maxInFlight, s)
		budget := DefaultLearnedDialRate.Burst + int(DefaultLearnedDialRate.Rate*30) + 1
		assert.LessOrEqual(t, len(got), budget, "the learned budget")
		assert.Greater(t, len(got), 0, "the loopback points are dialled")
		for _, pt := range got {
			assert.True(t, pt.Addr().IsLoopback(), "dialled %v", pt)
		}
		assert.LessOrEqual(t, maxPoints, DefaultMaxKnownPoints.High)
		assert.LessOrEqual(t, maxInFlight, DefaultDialMaxInFlight)
		assert.NotZero(t, s.Dial.LearnedNonRoutable)
	})
}

// TestSwapRequestFloodDialsOnce: a peer sends a Swap_request every 20 ms
// for 20 s, each naming a point nothing listens on. The pool answers and
// dials the first; the dial fails, and the swap linger (30 s) holds
// anyway, so that is the only dial (the bound is 50; octez puts
// the linger back after a failure and dials at every request).
func TestSwapRequestFloodDialsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		dials := &countingDialer{d: n}
		nd := newNode(t, n, func(c *Config) { c.Dialer = dials; noControlBudgets(c) })
		friend := newNode(t, n, nil)
		connect(t, nd, friend) // a peer to offer in the Swap_ack
		sc := hostilePeer(t, n, nd, netip.MustParseAddr("10.200.0.1"), 0)
		synctest.Wait()
		before := len(dials.list())
		for i := 0; i < 1000; i++ {
			req := wire.Message{Tag: wire.TagSwapRequest, Point: nowhere(i % 250), PeerID: testIdentity(t).PeerID}
			require.NoError(t, sc.WriteMessages(req.Append(nil)))
			time.Sleep(20 * time.Millisecond)
		}
		synctest.Wait()
		got := dials.list()[before:]
		t.Logf("swap dials: %v; %v", got, nd.Stats())
		assert.Equal(t, []netip.AddrPort{nowhere(0)}, got)
	})
}

// TestSwapAcksAnswerOnlyOurRequest: 1,000 Swap_acks that answer nothing
// start no dial and no goroutine, and are counted; once the pool has sent
// the peer a Swap_request, the first ack is honoured and the next one
// ignored; an ack later than swapAckTimeout answers nothing.
func TestSwapAcksAnswerOnlyOurRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		dials := &countingDialer{d: n}
		nd := newNode(t, n, func(c *Config) { c.Dialer = dials; noControlBudgets(c) })
		friend := newNode(t, n, nil)
		connect(t, nd, friend)
		src := netip.MustParseAddr("10.200.0.1")
		sc := hostilePeer(t, n, nd, src, 7000) // a known point, so the pool may propose it
		hostile := waitConnFrom(t, nd, src)
		synctest.Wait()
		before, goroutines := len(dials.list()), userGoroutines()
		ack := func(i int) []byte {
			return (&wire.Message{Tag: wire.TagSwapAck, Point: nowhere(i % 250), PeerID: testIdentity(t).PeerID}).Append(nil)
		}
		for i := range 1000 {
			require.NoError(t, sc.WriteMessages(ack(i)))
		}
		synctest.Wait()
		assert.Equal(t, before, len(dials.list()), "no dial")
		assert.Equal(t, goroutines, userGoroutines(), "no goroutine")
		assert.Equal(t, uint64(1000), nd.Stats().Dial.SwapAcksIgnored)

		// Our own request to the hostile peer: its first ack is the answer.
		w := nd.Watch(ctxT(t), 0)
		defer w.Close()
		sendSwapRequestTo(t, nd, w, hostile.Peer())
		require.NoError(t, sc.WriteMessages(ack(1), ack(2)))
		nextOf(t, w, EventSwapFailure) // nothing listens at the point offered
		synctest.Wait()
		assert.Equal(t, []netip.AddrPort{nowhere(1)}, dials.list()[before:])
		assert.Equal(t, uint64(1001), nd.Stats().Dial.SwapAcksIgnored)

		// A late answer answers nothing.
		sendSwapRequestTo(t, nd, w, hostile.Peer())
		time.Sleep(swapAckTimeout + time.Second)
		require.NoError(t, sc.WriteMessages(ack(3)))
		synctest.Wait()
		assert.Equal(t, []netip.AddrPort{nowhere(1)}, dials.list()[before:])
		assert.Equal(t, uint64(1002), nd.Stats().Dial.SwapAcksIgnored)
	})
}

// sendSwapRequestTo has nd send Swap_requests until one goes to peer (the
// recipient is drawn at random).
func sendSwapRequestTo(t *testing.T, nd *node, w *Watcher, peer PeerID) {
	t.Helper()
	for range 100 {
		require.NoError(t, nd.SendSwapRequest())
		if nextOf(t, w, EventSwapRequestSent).Peer == peer {
			return
		}
	}
	t.Fatal("no Swap_request went to the peer")
}

// TestLearnedPointsStayWithinTheTable: the known points are all being
// dialled (requested, which the GC may not remove) when a peer floods
// Advertises: the table stays at its High mark, the points beyond it are
// dropped and counted. octez registers them anyway.
func TestLearnedPointsStayWithinTheTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		d := stuckDialer{dialing: make(chan struct{}, 1000)}
		limit := TableLimit{High: 20, Low: 10}
		nd := newNode(t, n, func(c *Config) {
			noControlBudgets(c)
			c.Dialer = d
			c.Tables.MaxKnownPoints = limit
			c.Limits.MaxConnections = 100
			c.Timeouts.Connection = time.Hour
		})
		// 20 dials in flight fill the table with requested points.
		for i := range limit.High {
			go nd.Connect(context.Background(), nowhere(i))
		}
		synctest.Wait()
		require.Equal(t, limit.High, nd.Stats().Dial.InFlight)
		sc := hostilePeer(t, n, nd, netip.MustParseAddr("10.200.0.1"), 0)
		for round := range 50 {
			pts := make([]netip.AddrPort, 0, 100)
			for j := range 100 {
				pts = append(pts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 50, byte(round), byte(j)}), 9732))
			}
			require.NoError(t, sc.WriteMessages(wireAdvertise(pts...)))
			synctest.Wait()
			require.LessOrEqual(t, nd.Stats().Tables.KnownPoints, limit.High, "round %d", round)
		}
		assert.Equal(t, uint64(50*100), nd.Stats().Dial.LearnedTableFull)
		require.NoError(t, nd.Close())
	})
}

// TestDialsInFlightHoldConnectionSlots: with MaxConnections 2 and two dials
// in flight, a third Connect is refused at once and a peer dialling in is
// nacked: the dials hold their slots as accepted handshakes do.
func TestDialsInFlightHoldConnectionSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		d := stuckDialer{dialing: make(chan struct{}, 10)}
		nd := newNode(t, n, func(c *Config) {
			c.Dialer = d
			c.Limits.MinConnections, c.Limits.ExpectedConnections, c.Limits.MaxConnections = 1, 1, 2
			c.Timeouts.Connection = time.Hour
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() { nd.Connect(ctx, nowhere(i)) })
		}
		synctest.Wait()
		assert.Equal(t, 2, nd.Stats().Dial.InFlight)
		_, err := nd.Connect(ctxT(t), nowhere(3))
		require.ErrorIs(t, err, ErrTooManyConnections)
		other := newNode(t, n, nil)
		_, err = other.Connect(ctxT(t), nd.point)
		var rej *RejectedError
		require.ErrorAs(t, err, &rej)
		assert.Equal(t, NackTooManyConnections, rej.Motive)
		cancel()
		wg.Wait()
		// The slots are free again.
		connect(t, other, nd)
	})
}

// TestConnectWaitsForADialSlot: with one slot, a second Connect waits
// (within its context) while the first dials, leaving its point as it
// was, with no back-off; it proceeds once the slot frees.
func TestConnectWaitsForADialSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		stuck := stuckDialer{dialing: make(chan struct{}, 10)}
		nd := newNode(t, n, func(c *Config) {
			c.Dialer = pointDialer{stuckAt: nowhere(0), stuck: stuck, n: n}
			c.Dial.MaxInFlight = 1
		})
		b := newNode(t, n, nil)
		first := goConnect(nd.testPool, nowhere(0))
		synctest.Wait()
		short, cancelShort := context.WithTimeout(context.Background(), time.Second)
		defer cancelShort()
		_, err := nd.Connect(short, b.point)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		pi, ok := nd.Points().Info(b.point)
		require.True(t, ok)
		assert.Equal(t, PointDisconnected, pi.State)
		assert.True(t, pi.ReconnectAfter.IsZero(), "no back-off: the point was never dialled")
		second := goConnect(nd.testPool, b.point)
		synctest.Wait()
		select {
		case r := <-second:
			t.Fatalf("Connect did not wait for the slot: %v", r.err)
		default:
		}
		time.Sleep(DefaultConnectionTimeout) // the first dial times out
		require.Error(t, (<-first).err)
		r := <-second
		require.NoError(t, r.err)
	})
}

// TestMaintenanceDialsWithinTheLimiter: 300 registered points nothing
// answers at; the maintenance, far short of connections, never has more
// than MaxInFlight dials (and their goroutines) running, nor starts more
// than the rate allows.
func TestMaintenanceDialsWithinTheLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		stuck := stuckDialer{dialing: make(chan struct{}, 1000)}
		nd := newNode(t, n, func(c *Config) {
			c.Dialer = stuck
			c.Maintenance.IdleTime = 0 // the default: on
			c.Dial.MaxInFlight = 8
			c.Timeouts.Connection = 3 * time.Second
		})
		for i := range 300 {
			require.NoError(t, nd.Points().Register(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 98, byte(i >> 8), byte(i)}), 9732)))
		}
		synctest.Wait()
		base := userGoroutines() - nd.Stats().Dial.InFlight
		start := time.Now()
		most := 0
		for time.Since(start) < 20*time.Second {
			time.Sleep(100 * time.Millisecond)
			s := nd.Stats()
			most = max(most, s.Dial.InFlight)
			require.LessOrEqual(t, s.Dial.InFlight, 8)
			require.LessOrEqual(t, userGoroutines(), base+8+1)
		}
		s := nd.Stats()
		t.Logf("most in flight %d; %v", most, s)
		assert.Equal(t, 8, most)
		// 20 s of 3 s dials on 8 slots: at most 8 × 7 attempts, far fewer
		// than the points known.
		assert.LessOrEqual(t, s.Dial.Started, uint64(8*7))
	})
}

// countingDialer records the points it is asked to dial, then dials them
// on d.
type countingDialer struct {
	d  Dialer
	mu sync.Mutex
	// Guarded by mu.
	dials []netip.AddrPort
}

func (c *countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	pt, err := netip.ParseAddrPort(address)
	if err == nil {
		c.mu.Lock()
		c.dials = append(c.dials, pt)
		c.mu.Unlock()
	}
	return c.d.DialContext(ctx, network, address)
}

func (c *countingDialer) list() []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]netip.AddrPort(nil), c.dials...)
}

// pointDialer dials stuckAt on stuck and every other point on the mem
// network.
type pointDialer struct {
	stuckAt netip.AddrPort
	stuck   stuckDialer
	n       *network
}

func (d pointDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if address == d.stuckAt.String() {
		return d.stuck.DialContext(ctx, network, address)
	}
	return d.n.DialContext(ctx, network, address)
}

// hostilePeer is a scripted peer at src on the mem network: it completes
// a handshake with nd, announcing port, reads and discards whatever nd
// sends, and returns its socket for the test to write crafted messages.
func hostilePeer(t testing.TB, n *network, nd *node, src netip.Addr, port uint16) *socket.Conn {
	t.Helper()
	nc, err := n.dialFrom(context.Background(), nd.point.String(), src)
	require.NoError(t, err)
	cfg := rawConfig(t, testIdentity(t), wire.Metadata{})
	cfg.Port = port
	auth, err := socket.Authenticate(context.Background(), nc, false, &cfg)
	require.NoError(t, err)
	sc, err := auth.Accept()
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := sc.ReadMessage(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		sc.Close()
		<-done
		sc.Free()
	})
	return sc
}

// waitConnFrom waits for nd's connection with the peer at src.
func waitConnFrom(t testing.TB, nd *node, src netip.Addr) *testConn {
	t.Helper()
	var found *testConn
	waitFor(t, "a connection from "+src.String(), func() bool {
		for _, c := range nd.Conns().All() {
			if ap, _ := addrPortOf(c.Info().RemoteAddr); ap.Addr() == src {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// noControlBudgets turns the per-peer control budgets (control.go) off, so
// that a flood reaches the dial limiter whole: these tests prove the dial
// budgets on their own, the control budgets are proven in control_test.go.
func noControlBudgets(c *Config) {
	c.Control = ControlConfig{Bootstrap: Unlimited, Advertise: Unlimited, SwapRequest: Unlimited, SwapAck: Unlimited, Abuse: Unlimited}
}
