package p2ppool

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// seedPublicPoints makes nd know n public points to advertise, as if it
// had been connected to them.
func seedPublicPoints(nd *node, n int) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	for i := range n {
		pt := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(1 + i%250)}), 9732)
		nd.tab.registerPointLocked(pt).KnownPublic = true
	}
}

// controlFlood is one message of each kind a hostile peer floods with.
var controlFlood = []struct {
	name  string
	kind  controlKind
	event EventKind // what the pool publishes for each message it handles
	msg   func(i int) []byte
}{
	{"bootstrap", ctlBootstrap, EventBootstrapReceived, func(int) []byte { return bootstrapMsg }},
	{"advertise", ctlAdvertise, EventAdvertiseReceived, func(i int) []byte {
		// 100 made-up points, new ones each time.
		pts := make([]netip.AddrPort, wire.MaxAdvertisePoints)
		for j := range pts {
			pts[j] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, byte(i), byte(j)}), 9732)
		}
		return wireAdvertise(pts...)
	}},
	{"swap_request", ctlSwapRequest, EventSwapRequestReceived, func(i int) []byte {
		m := wire.Message{Tag: wire.TagSwapRequest, Point: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 9732)}
		return m.Append(nil)
	}},
	{"swap_ack", ctlSwapAck, EventSwapAckReceived, func(i int) []byte {
		m := wire.Message{Tag: wire.TagSwapAck, Point: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 9732)}
		return m.Append(nil)
	}},
}

// drainCount reads sc until it fails, counting the plaintext bytes and
// the Advertise messages it gets; done is closed at the end.
type drainCount struct {
	bytes, advertises atomic.Int64
	done              chan struct{}
}

func drain(sc *socket.Conn) *drainCount {
	d := &drainCount{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			raw, err := sc.ReadMessage()
			if err != nil {
				return
			}
			d.bytes.Add(int64(len(raw)))
			if len(raw) >= 6 && raw[4] == 0 && raw[5] == byte(wire.TagAdvertise) {
				d.advertises.Add(1)
			}
		}
	}()
	return d
}

// TestControlFlood: a scripted peer that reads everything floods the pool
// with one kind of control message, 100 messages every 10 ms, redialling
// from the same address when it is cut, for 10 s. The pool handles no more
// of them than the budget (burst + rate × time), ignores and counts the
// rest, cuts the peer for flooding once its abuse bucket is empty and
// greylists its id and address, so that it cannot come back; what the pool
// sent over the 10 s, handshakes included, is at most twice what the peer
// sent. The Advertise answering Bootstraps is built at most once per
// refresh.
func TestControlFlood(t *testing.T) {
	for _, tc := range controlFlood {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				nd := newNode(t, n, nil)
				seedPublicPoints(nd, 2*maxAdvertised)
				w := nd.Watch(context.Background(), 1<<16)
				defer w.Close()
				src := netip.MustParseAddr("10.50.0.1")
				synctest.Wait()
				before := nd.Stats()
				start := time.Now()

				var first *drainCount
				var firstConn *testConn
				sent, dials := 0, 0
				for time.Since(start) < 10*time.Second {
					dials++
					sc := rawHandshake(t, n, nd, src)
					if sc == nil {
						time.Sleep(100 * time.Millisecond) // refused: try again
						continue
					}
					d := drain(sc)
					if first == nil {
						first = d
						synctest.Wait()
						all := nd.Conns().All()
						require.Len(t, all, 1)
						firstConn = all[0]
					}
					for time.Since(start) < 10*time.Second {
						batch := make([][]byte, 100)
						for i := range batch {
							batch[i] = tc.msg(sent + i)
						}
						if sc.WriteMessages(batch...) != nil {
							break
						}
						sent += len(batch)
						time.Sleep(10 * time.Millisecond)
						if nd.Conns().Len() == 0 {
							break
						}
					}
					sc.Close()
					<-d.done
					sc.Free()
				}
				synctest.Wait()
				elapsed := time.Since(start)
				after := nd.Stats()

				// The pool handled no more than the budget allowed.
				limit := tc.kind.limit(&nd.cfg.Control)
				handled := 0
				for {
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					e, err := w.Next(ctx)
					cancel()
					if err != nil {
						break
					}
					if e.Kind == tc.event {
						handled++
					}
				}
				assert.LessOrEqual(t, float64(handled), float64(limit.Burst)+limit.Rate*elapsed.Seconds(), "messages handled")
				assert.Positive(t, handled, "the first messages are within the budget")
				ignored := after.Control.stats(tc.kind) - before.Control.stats(tc.kind)
				assert.GreaterOrEqual(t, ignored, uint64(DefaultControlAbuse.Burst), "ignored until the abuse bucket was empty")

				// The flooder was cut for flooding and could not come back.
				de := endReason(t, firstConn)
				assert.Equal(t, ReasonFlood, de.Reason)
				assert.ErrorIs(t, de, ErrFlood)
				assert.True(t, nd.Peers().Banned(firstConn.Peer()), "peer greylisted")
				assert.True(t, nd.ACL().AddrBanned(src), "address greylisted")
				assert.Equal(t, uint64(1), after.Control.Floods-before.Control.Floods, "one connection cut: the others were refused")
				assert.Greater(t, dials, 10, "the flooder kept trying")

				out := after.Traffic.Flow.TotalSent - before.Traffic.Flow.TotalSent
				in := after.Traffic.Flow.TotalRecv - before.Traffic.Flow.TotalRecv
				ratio := float64(out) / float64(in)
				t.Logf("%s flood: %d sent in %v, %d handled, %d ignored, %d dials; pool wire out %d B / in %d B = %.3f; advertise builds %d",
					tc.name, sent, elapsed, handled, ignored, dials, out, in, ratio, after.Control.AdvertiseBuilds-before.Control.AdvertiseBuilds)
				assert.LessOrEqual(t, ratio, 2.0, "bytes out ÷ bytes in")
				if tc.kind == ctlBootstrap {
					assert.LessOrEqual(t, first.advertises.Load(), int64(handled), "an Advertise per Bootstrap handled, no more")
					assert.LessOrEqual(t, after.Control.AdvertiseBuilds-before.Control.AdvertiseBuilds, uint64(handled))
				}
				if tc.kind == ctlAdvertise {
					assert.LessOrEqual(t, after.Tables.KnownPoints, 2*maxAdvertised+handled*wire.MaxAdvertisePoints, "points learned from handled Advertises only")
				}
			})
		})
	}
}

// stats is the ignored count of kind k.
func (s ControlStats) stats(k controlKind) uint64 {
	return [numControlKinds]uint64{s.Bootstrap, s.Advertise, s.SwapRequest, s.SwapAck}[k]
}

// TestControlHonestRates: a peer that sends each control message at the
// rate an honest octez node may (a Bootstrap and an Advertise every 5 s,
// a Swap_request and a Swap_ack every 30 s) for 5 minutes is never
// refused, and every Bootstrap gets its Advertise.
func TestControlHonestRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, nil)
		seedPublicPoints(nd, 10)
		rp, conn := dialRaw(t, n, nd)
		d := drain(rp.sc)
		bootstraps := 0
		for i := range 60 { // every 5 s for 5 minutes
			// The same few points each time: the seeded ones stay in
			// the table.
			msgs := [][]byte{bootstrapMsg, wireAdvertise(netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 3)}), 9732))}
			bootstraps++
			if i%6 == 0 {
				msgs = append(msgs, controlFlood[2].msg(i), controlFlood[3].msg(i))
			}
			require.NoError(t, rp.sc.WriteMessages(msgs...))
			time.Sleep(5 * time.Second)
		}
		synctest.Wait()
		assert.Equal(t, ControlStats{}, withoutBuilds(nd.Stats().Control), "nothing refused")
		assert.NoError(t, conn.Err(), "the connection runs")
		assert.Equal(t, int64(bootstraps), d.advertises.Load(), "every Bootstrap answered")
		assert.LessOrEqual(t, nd.Stats().Control.AdvertiseBuilds, uint64(bootstraps))
		rp.sc.Close()
		<-d.done
		rp.sc.Free()
	})
}

func withoutBuilds(s ControlStats) ControlStats { s.AdvertiseBuilds = 0; return s }

// TestBudgetAllow: Connection.Allow spends the connection's own bucket of
// a Budget (another connection has its own), counts what it refuses in
// the Budget and in Stats, and a peer that keeps being refused until the
// abuse bucket is empty is cut and greylisted. After the end Allow refuses
// without counting.
func TestBudgetAllow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, func(c *Config) { c.Control.Abuse = RateLimit{Rate: 0.5, Burst: 3} })
		b := NewBudget("get_thing", RateLimit{Rate: 1, Burst: 2})
		rp1, c1 := dialRaw(t, n, nd)
		_, c2 := dialRaw(t, n, nd)

		assert.True(t, c1.Allow(b))
		assert.True(t, c1.Allow(b))
		assert.False(t, c1.Allow(b), "the burst is spent")
		assert.True(t, c2.Allow(b), "each connection has its own bucket")
		for range 100 {
			assert.True(t, c1.Allow(nil), "a nil Budget is no budget")
		}
		time.Sleep(time.Second)
		assert.True(t, c1.Allow(b), "a token a second")
		assert.Equal(t, uint64(1), b.Refused())
		assert.Equal(t, uint64(1), nd.Stats().Control.Requests)

		// Two more refusals leave the abuse bucket (3, refilled by 0.5
		// in the second) below one token; the third cuts the peer.
		assert.False(t, c1.Allow(b))
		assert.False(t, c1.Allow(b))
		assert.NoError(t, c1.Err())
		assert.False(t, c1.Allow(b))
		de := endReason(t, c1)
		assert.Equal(t, ReasonFlood, de.Reason)
		assert.ErrorIs(t, de, ErrFlood)
		assert.ErrorContains(t, de, "get_thing")
		assert.True(t, nd.Peers().Banned(rp1.id.PeerID))
		addr, _ := addrPortOf(c1.Info().RemoteAddr)
		assert.True(t, nd.ACL().AddrBanned(addr.Addr()))
		assert.Equal(t, uint64(1), nd.Stats().Control.Floods)

		refused := b.Refused()
		assert.False(t, c1.Allow(b), "an ended connection allows nothing")
		assert.Equal(t, refused, b.Refused(), "and counts nothing")
		assert.NoError(t, c2.Err(), "the other connection is not touched")
	})
}

// TestBudgetsOutliveTheConnection: a peer that spent its budgets and
// reconnects with the same identity gets them back as it left them, not
// full, so reconnecting (a handshake, no proof of work) buys no answers;
// only time refills them.
func TestBudgetsOutliveTheConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, nil)
		b := NewBudget("get_thing", RateLimit{Rate: 0.1, Burst: 2})
		rp, c := dialRaw(t, n, nd)
		assert.True(t, c.Allow(b))
		assert.True(t, c.Allow(b))
		assert.False(t, c.Allow(b), "the burst is spent")
		rp.nc.Close()
		endReason(t, c)

		_, again := dialRawAs(t, n, nd, rp.id, wire.Metadata{})
		assert.False(t, again.Allow(b), "the budget survived the reconnection")
		time.Sleep(10 * time.Second)
		assert.True(t, again.Allow(b), "and refills with time")
		assert.False(t, again.Allow(b))

		// Another identity has a budget of its own.
		_, other := dialRaw(t, n, nd)
		assert.True(t, other.Allow(b))
	})
}

func TestNewBudgetPanicsOnBadLimits(t *testing.T) {
	for _, l := range []RateLimit{{}, {Rate: -1, Burst: 1}, {Rate: 1, Burst: 0}} {
		assert.Panics(t, func() { NewBudget("x", l) }, "%v", l)
	}
	b := NewBudget("x", Unlimited)
	assert.Equal(t, "x (unlimited)", b.String())
}

func TestControlConfigValidate(t *testing.T) {
	id := testIdentity(t)
	for _, c := range []ControlConfig{
		{Bootstrap: RateLimit{Rate: -1, Burst: 1}},
		{Advertise: RateLimit{Rate: 1}},
		{SwapRequest: RateLimit{Rate: 1, Burst: -2}},
		{SwapAck: RateLimit{Rate: -0.5, Burst: 3}},
		{Abuse: RateLimit{Rate: 1, Burst: 0}},
	} {
		cfg := Config{Identity: id, Control: c}
		assert.Error(t, cfg.Validate(), "%+v", c)
	}
	cfg := Config{Identity: id, Control: ControlConfig{Abuse: Unlimited}}
	require.NoError(t, cfg.Validate())
	d := cfg.withDefaults().Control
	assert.Equal(t, ControlConfig{
		Bootstrap: DefaultControlBootstrap, Advertise: DefaultControlAdvertise,
		SwapRequest: DefaultControlSwapRequest, SwapAck: DefaultControlSwapAck, Abuse: Unlimited,
	}, d)
}

// TestAdvertiseCacheUnderManyPeers: 50 peers each send one Bootstrap at
// the same moment, twice 3 s apart: each gets an Advertise of the known
// public points, and the pool built two answers in all.
func TestAdvertiseCacheUnderManyPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, nil)
		seedPublicPoints(nd, 3*maxAdvertised)
		var peers []*rawPeer
		var drains []*drainCount
		for range 50 {
			rp, _ := dialRaw(t, n, nd)
			peers = append(peers, rp)
			drains = append(drains, drain(rp.sc))
		}
		for round := range 2 {
			var wg sync.WaitGroup
			for _, rp := range peers {
				wg.Go(func() { require.NoError(t, rp.sc.WriteMessages(bootstrapMsg)) })
			}
			wg.Wait()
			synctest.Wait()
			for i, d := range drains {
				require.Equal(t, int64(round+1), d.advertises.Load(), "peer %d", i)
			}
			time.Sleep(advertiseRefresh + time.Second)
		}
		assert.Equal(t, uint64(2), nd.Stats().Control.AdvertiseBuilds)
		for i, rp := range peers {
			rp.sc.Close()
			<-drains[i].done
			rp.sc.Free()
		}
	})
}

// TestAdvertiseRanking: the cached answer follows octez's order: the
// connected points first, at most maxAdvertised in all.
func TestAdvertiseRanking(t *testing.T) {
	cands := make([]advCand, 0, 120)
	now := time.Now()
	for i := range 100 {
		cands = append(cands, advCand{pt: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1), disconnected: true, lastSeen: now.Add(-time.Duration(i) * time.Minute)})
	}
	for i := range 20 {
		cands = append(cands, advCand{pt: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 1), lastSeen: now.Add(-time.Duration(i) * time.Minute)})
	}
	pts := rankAdvertised(cands, maxAdvertised)
	require.Len(t, pts, maxAdvertised)
	for i, pt := range pts[:20] {
		// Connected, longest standing first.
		assert.Equal(t, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(19 - i)}), 1), pt, "rank %d", i)
	}
	for i, pt := range pts[20:30] {
		// Then the disconnected seen most recently.
		assert.Equal(t, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1), pt, "rank %d", 20+i)
	}
}

func TestStatsStringShowsControl(t *testing.T) {
	s := Stats{Control: ControlStats{Bootstrap: 3, Floods: 1}}
	assert.Contains(t, s.String(), "bootstrap=3")
	assert.Contains(t, s.String(), "floods=1")
	assert.Equal(t, "flood", ReasonFlood.String())
	assert.Equal(t, fmt.Sprint(ReasonFlood), "flood")
	s = Stats{Messages: MessageStats{Oversized: 2}, Connections: ConnectionStats{Ended: map[DisconnectReason]uint64{ReasonIdle: 4}}}
	assert.Contains(t, s.String(), "oversized=2")
	assert.Contains(t, s.String(), fmt.Sprintf("ended: %q=4", ReasonIdle.String()))
}

// BenchmarkControlFlood: a peer that reads everything sends b.N control
// messages of one kind, in batches of 100, to a pool with the default
// budgets (the abuse rule off, so that the flood lasts b.N messages).
// It reports the pool's wire bytes out ÷ bytes in over the flood
// (out/in, aim ≤ 2) and the cost of a message ignored over budget.
func BenchmarkControlFlood(b *testing.B) {
	for _, tc := range controlFlood {
		b.Run(tc.name, func(b *testing.B) {
			n := newNetwork("mem")
			nd := newNode(b, n, func(c *Config) { c.Control.Abuse = Unlimited })
			seedPublicPoints(nd, 2*maxAdvertised)
			rp, conn := dialRaw(b, n, nd)
			d := drain(rp.sc)
			batch := make([][]byte, 100)
			for i := range batch {
				batch[i] = tc.msg(i)
			}
			before := nd.Stats()
			recv0 := conn.Stat().MsgsRecv
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += len(batch) {
				k := min(len(batch), b.N-sent)
				require.NoError(b, rp.sc.WriteMessages(batch[:k]...))
			}
			waitFor(b, "the pool to read the flood", func() bool { return conn.Stat().MsgsRecv-recv0 >= uint64(b.N) })
			b.StopTimer()
			after := nd.Stats()
			out := after.Traffic.Flow.TotalSent - before.Traffic.Flow.TotalSent
			in := after.Traffic.Flow.TotalRecv - before.Traffic.Flow.TotalRecv
			b.ReportMetric(float64(out)/float64(max(in, 1)), "out/in")
			rp.sc.Close()
			<-d.done
			rp.sc.Free()
		})
	}
}

// TestAllowDoesNotAllocate: once a connection has its bucket for a
// Budget, Allow allocates nothing, refused or not.
func TestAllowDoesNotAllocate(t *testing.T) {
	if lockCheck {
		t.Skip("under p2ppool_lockcheck every Lock records its goroutine (allocates); the normal build is measured")
	}
	n := newNetwork("mem")
	nd := newNode(t, n, func(c *Config) { c.Control.Abuse = Unlimited })
	_, c := dialRaw(t, n, nd)
	budgets := []*Budget{NewBudget("a", Unlimited), NewBudget("b", RateLimit{Rate: 0, Burst: 1}), NewBudget("c", RateLimit{Rate: 1, Burst: 1})}
	for _, b := range budgets {
		c.Allow(b)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		for _, b := range budgets {
			c.Allow(b)
		}
	}))
}

// BenchmarkAllow is the cost of Connection.Allow with three Budgets in use
// on the connection, one refusing.
func BenchmarkAllow(b *testing.B) {
	n := newNetwork("mem")
	nd := newNode(b, n, func(c *Config) { c.Control.Abuse = Unlimited })
	_, c := dialRaw(b, n, nd)
	budgets := []*Budget{NewBudget("a", Unlimited), NewBudget("b", RateLimit{Rate: 0, Burst: 1}), NewBudget("c", RateLimit{Rate: 1e9, Burst: 1 << 30})}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Allow(budgets[i%len(budgets)])
	}
}
