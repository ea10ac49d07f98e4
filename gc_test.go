package p2ppool

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the known-table GC (spec §4): which points and peers a full
// table forgets, in which order, and the event it publishes. They run in
// synctest bubbles so that last misses and creation times are distinct
// and exact.

// pointKeys lists the points p knows, in address order.
func pointKeys[M, P, C any](p *Pool[M, P, C]) []netip.AddrPort {
	var out []netip.AddrPort
	for pt := range p.Points().All() {
		out = append(out, pt)
	}
	return out
}

// peerKeys lists the peers p knows.
func peerKeys[M, P, C any](p *Pool[M, P, C]) []PeerID {
	var out []PeerID
	for id := range p.Peers().All() {
		out = append(out, id)
	}
	return out
}

// drainEvents returns the events w holds now, without waiting for more.
func drainEvents(t testing.TB, w *Watcher) []Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []Event
	for {
		e, err := w.Next(ctx)
		if err != nil {
			return out
		}
		out = append(out, e)
	}
}

// eventKinds names the kinds of es, for readable diffs.
func eventKinds(es []Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind.String()
	}
	return out
}

// kinds names ks, to compare with eventKinds.
func kinds(ks ...EventKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}

func TestPointGCOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a := newNode(t, n, func(c *Config) { c.Tables.MaxKnownPoints = TableLimit{High: 5, Low: 3} })
		fail := func(pt netip.AddrPort) {
			t.Helper()
			_, err := a.Connect(context.Background(), pt)
			require.ErrorIs(t, err, ErrConnectionFailed)
		}
		trusted, running := nowhere(1), b.point
		p1, p2, p3 := nowhere(2), nowhere(3), nowhere(4)
		// The trusted and the running point have the oldest misses, but
		// are never evicted.
		a.Points().Trust(trusted)
		fail(trusted)
		replug := unplug(n, b.point)
		fail(running)
		replug()
		time.Sleep(time.Second)
		connectSettled(t, a, b)
		for _, pt := range []netip.AddrPort{p1, p2, p3} {
			time.Sleep(time.Second)
			fail(pt)
		}
		time.Sleep(time.Second)
		require.Len(t, pointKeys(a.testPool), 5)
		w := a.Watch(context.Background(), 0)
		defer w.Close()

		// The table is full: before the new point goes in, it is trimmed
		// to 3 by evicting the two disconnected points missed longest ago.
		x := nowhere(5)
		a.Points().Register(x)
		assert.ElementsMatch(t, []netip.AddrPort{trusted, running, p3, x}, pointKeys(a.testPool))
		es := drainEvents(t, w)
		assert.Equal(t, kinds(EventGCPoints, EventNewPoint), eventKinds(es))
		assert.Equal(t, x, es[1].Point)

		// Never-missed points count as missed now: they go last.
		y := nowhere(6)
		a.Points().Register(y) // 5 points: no GC yet
		time.Sleep(time.Second)
		fail(y)
		time.Sleep(time.Second)
		z := nowhere(7)
		a.Points().Register(z)
		assert.ElementsMatch(t, []netip.AddrPort{trusted, running, x, z}, pointKeys(a.testPool),
			"p3 and y (missed) go before x (never missed)")
		assert.Equal(t, kinds(EventNewPoint, EventOutgoingConnection, EventGCPoints, EventNewPoint), eventKinds(drainEvents(t, w)))
	})
}

func TestPointGCSparesTrustedAndConnected(t *testing.T) {
	// When nothing can be evicted, the GC still runs and says so, and the
	// table grows past its bound.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a := newNode(t, n, func(c *Config) { c.Tables.MaxKnownPoints = TableLimit{High: 3, Low: 1} })
		connectSettled(t, a, b)
		a.Points().Trust(nowhere(1))
		a.Points().Trust(nowhere(2))
		w := a.Watch(context.Background(), 0)
		defer w.Close()
		a.Points().Register(nowhere(3))
		assert.ElementsMatch(t, []netip.AddrPort{b.point, nowhere(1), nowhere(2), nowhere(3)}, pointKeys(a.testPool))
		assert.Equal(t, kinds(EventGCPoints, EventNewPoint), eventKinds(drainEvents(t, w)))
	})
}

func TestTableGCWithLowEqualHigh(t *testing.T) {
	// With Low = High the table holds High+1 entries: octez's GC runs
	// when the table is full before an insertion, and only trims (and
	// logs Gc_points / Gc_peer_ids) when the table is above its target.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a := newNode(t, n, func(c *Config) {
			c.Tables.MaxKnownPoints = TableLimit{High: 2, Low: 2}
			c.Tables.MaxKnownPeerIDs = TableLimit{High: 2, Low: 2}
		})
		w := a.Watch(context.Background(), 0)
		defer w.Close()
		for i := 1; i <= 3; i++ {
			a.Points().Register(nowhere(i))
			a.Peers().SetMeta(PeerID{byte(i)}, struct{}{})
		}
		assert.Len(t, pointKeys(a.testPool), 3)
		assert.Len(t, peerKeys(a.testPool), 3)
		assert.Equal(t, kinds(EventNewPoint, EventNewPeer, EventNewPoint, EventNewPeer, EventNewPoint, EventNewPeer),
			eventKinds(drainEvents(t, w)), "at High = Low there is nothing to trim: no GC event")
		a.Points().Register(nowhere(4))
		a.Peers().SetMeta(PeerID{4}, struct{}{})
		assert.Len(t, pointKeys(a.testPool), 3)
		assert.Len(t, peerKeys(a.testPool), 3)
		assert.Equal(t, kinds(EventGCPoints, EventNewPoint, EventGCPeers, EventNewPeer), eventKinds(drainEvents(t, w)))
	})
}

// scoredPool is a pool whose peer metadata is its score.
type scoredPool = Pool[text, float64, Metadata]

func newScoredPool(t testing.TB, n *network, mutate func(*Config)) *scoredPool {
	t.Helper()
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(textMessages(), PeerMetaConfig[float64]{Score: func(m float64) float64 { return m }}, OctezConnMeta(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func TestPeerGCOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a := newScoredPool(t, n, func(c *Config) { c.Tables.MaxKnownPeerIDs = TableLimit{High: 6, Low: 4} })
		// The running peer and the trusted one score 0, the lowest, but
		// are never evicted.
		_, err := a.Connect(context.Background(), b.point)
		require.NoError(t, err)
		running := b.Config().Identity.PeerID
		trusted := PeerID{0xee}
		a.Peers().Trust(trusted)
		// p1 and p2 score the same; p2 is the more recent.
		p1, p2, p3, p4 := PeerID{1}, PeerID{2}, PeerID{3}, PeerID{4}
		for _, s := range []struct {
			id    PeerID
			score float64
		}{{p1, 1}, {p2, 1}, {p3, 2}, {p4, 0.5}} {
			time.Sleep(time.Second)
			a.Peers().SetMeta(s.id, s.score)
		}
		pi1, _ := a.Peers().Info(p1)
		pi2, _ := a.Peers().Info(p2)
		require.True(t, pi1.Created.Before(pi2.Created))
		assert.Equal(t, 1.0, pi2.Score)
		require.Len(t, peerKeys(a), 6)
		w := a.Watch(context.Background(), 0)
		defer w.Close()

		// Full: trimmed to 4 before q goes in. Lowest score first (p4),
		// then, among equal scores, the most recently created (p2).
		q := PeerID{5}
		a.Peers().SetMeta(q, 0)
		assert.ElementsMatch(t, []PeerID{running, trusted, p1, p3, q}, peerKeys(a))
		es := drainEvents(t, w)
		assert.Equal(t, kinds(EventGCPeers, EventNewPeer), eventKinds(es))
		assert.Equal(t, q, es[1].Peer)
		assert.Equal(t, 0.0, a.Peers().Meta(p2), "a forgotten peer has the initial metadata")

		// Next round: q (score 0, newest) then p1 go; running and trusted
		// stay whatever their score.
		a.Peers().SetMeta(PeerID{6}, 3)
		a.Peers().SetMeta(PeerID{7}, 3)
		assert.ElementsMatch(t, []PeerID{running, trusted, p3, {6}, {7}}, peerKeys(a))
		assert.True(t, slices.Contains(eventKinds(drainEvents(t, w)), EventGCPeers.String()))
	})
}

// TestScoreOfUnknownPeer: the score of an unknown peer is the score of
// the initial metadata, as octez's get_score (p2p_pool.ml:355-361), and
// asking does not register the peer; a known peer's is its own.
func TestScoreOfUnknownPeer(t *testing.T) {
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
	p, err := New(textMessages(), PeerMetaConfig[float64]{
		Initial: func() float64 { return 0.25 },
		Score:   func(m float64) float64 { return 2 * m },
	}, OctezConnMeta(), cfg)
	require.NoError(t, err)
	defer p.Close()
	id := PeerID{7}
	s, known := p.Peers().Score(id)
	assert.Equal(t, 0.5, s, "Score(Initial())")
	assert.False(t, known)
	_, registered := p.Peers().Info(id)
	assert.False(t, registered, "asking registers nothing")
	require.NoError(t, p.Peers().SetMeta(id, 3))
	s, known = p.Peers().Score(id)
	assert.Equal(t, 6.0, s)
	assert.True(t, known)
}

// TestNoTableLimit: with NoTableLimit the known tables are never trimmed,
// as octez's max_known_points / max_known_peer_ids = None
// (p2p_pool.ml:87-89, 209-210), whether the entries come from the
// application or from a peer's Advertise; the zero TableLimit is still
// the default, and other negative limits are refused.
func TestNoTableLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const many = 3 * 400 // three times the default High
		n := newNetwork("mem")
		a := newNode(t, n, func(c *Config) {
			noControlBudgets(c)
			c.Tables.MaxKnownPoints, c.Tables.MaxKnownPeerIDs = NoTableLimit, NoTableLimit
		})
		assert.Equal(t, NoTableLimit, a.Config().Tables.MaxKnownPoints, "NoTableLimit is kept, not defaulted")
		w := a.Watch(context.Background(), 0)
		defer w.Close()
		for i := range many {
			require.NoError(t, a.Points().Register(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)}), 9732)))
			require.NoError(t, a.Peers().SetMeta(PeerID{byte(i), byte(i >> 8), 1}, struct{}{}))
		}
		sc := hostilePeer(t, n, a, netip.MustParseAddr("10.200.0.1"), 0)
		pts := make([]netip.AddrPort, 0, 100)
		for j := range 100 {
			pts = append(pts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 50, 0, byte(j)}), 9732))
		}
		require.NoError(t, sc.WriteMessages(wireAdvertise(pts...)))
		synctest.Wait()
		assert.Equal(t, many+100, a.Stats().Tables.KnownPoints, "every point kept")
		assert.Len(t, peerKeys(a.testPool), many+1, "every peer kept, the advertiser too")
		assert.Zero(t, a.Stats().Dial.LearnedTableFull)
		for _, e := range drainEvents(t, w) {
			require.NotContains(t, []EventKind{EventGCPoints, EventGCPeers}, e.Kind)
		}
	})
	base := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork}
	for _, l := range []TableLimit{{High: -1}, {High: -1, Low: 0}, {High: -2, Low: -2}, {High: 5, Low: -1}, {High: -1, Low: 3}} {
		cfg := base
		cfg.Tables.MaxKnownPoints = l
		assert.Error(t, cfg.Validate(), "MaxKnownPoints %+v", l)
		cfg = base
		cfg.Tables.MaxKnownPeerIDs = l
		assert.Error(t, cfg.Validate(), "MaxKnownPeerIDs %+v", l)
	}
	cfg := base
	cfg.Tables.MaxKnownPoints, cfg.Tables.MaxKnownPeerIDs = NoTableLimit, NoTableLimit
	require.NoError(t, cfg.Validate())
}
