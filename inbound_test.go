package p2ppool

import (
	"context"
	"hash/maphash"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// srcDialer dials on a mem network from a fixed source address, as a
// host with that address would.
type srcDialer struct {
	n   *network
	src netip.Addr
}

func (d srcDialer) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	return d.n.dialFrom(ctx, address, d.src)
}

// dialSilentFrom opens a transport connection to nd from src and says
// nothing.
func dialSilentFrom(t testing.TB, n *network, nd *node, src string) net.Conn {
	t.Helper()
	nc, err := n.dialFrom(ctxT(t), nd.point.String(), netip.MustParseAddr(src))
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return nc
}

// nodeAt is newNode whose outgoing connections come from src.
func nodeAt(t testing.TB, n *network, src string, mutate func(*Config)) *node {
	t.Helper()
	return newNode(t, n, func(c *Config) {
		c.Dialer = srcDialer{n, netip.MustParseAddr(src)}
		if mutate != nil {
			mutate(c)
		}
	})
}

func TestNetGroups(t *testing.T) {
	cfg := Config{}.withDefaults()
	g := newNetGroups(&cfg)
	for _, tc := range []struct{ addr, wantAddr, wantSubnet string }{
		{"192.0.2.7", "192.0.2.7/32", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/48"},
	} {
		a := netip.MustParseAddr(tc.addr)
		assert.Equal(t, netip.MustParsePrefix(tc.wantAddr), g.addr(a))
		assert.Equal(t, netip.MustParsePrefix(tc.wantSubnet), g.subnet(a))
	}
	assert.False(t, g.limited(netip.MustParseAddr("127.0.0.1")), "loopback is exempt by default")
	assert.False(t, g.limited(netip.MustParseAddr("::1")))
	assert.True(t, g.limited(netip.MustParseAddr("10.0.0.1")))
	cfg.Admission.LimitLoopback = true
	assert.True(t, newNetGroups(&cfg).limited(netip.MustParseAddr("127.0.0.1")))
}

func TestPendingSet(t *testing.T) {
	cfg := Config{Admission: AdmissionConfig{MaxIncomingConnections: 3}}.withDefaults()
	g := newNetGroups(&cfg)
	var s pendingSet
	t0 := time.Unix(1000, 0)
	evicted := map[string]bool{}
	add := func(addr string, at int) (*pendingHandshake, *pendingHandshake, RefusalReason, bool) {
		return s.admit(&cfg, g, netip.MustParseAddr(addr), func(error) { evicted[addr] = true }, t0.Add(time.Duration(at)*time.Second), &failScores{})
	}
	_, _, _, ok := add("10.0.0.1", 0)
	require.True(t, ok)
	_, _, _, ok = add("10.0.0.1", 1)
	require.True(t, ok)
	_, _, r, ok := add("10.0.0.1", 2)
	require.False(t, ok)
	assert.Equal(t, RefusedPendingPerAddr, r)
	_, _, _, ok = add("10.0.0.2", 3)
	require.True(t, ok)
	// All three slots busy, three from 10.0.0.0/24: a fourth socket of the
	// subnet is over its share of 4? No: the subnet holds 3 < 4, so it
	// evicts the subnet's oldest.
	_, victim, _, ok := add("10.9.0.1", 4)
	require.True(t, ok)
	require.NotNil(t, victim)
	assert.Equal(t, t0, victim.started, "the oldest of the most represented subnet")
	assert.Len(t, s.all, 3)

	// The subnet's share: 4 handshakes, whatever the addresses.
	cfg.Admission.MaxIncomingConnections = 20
	s = pendingSet{}
	for i := range 4 {
		_, _, _, ok := add(netip.AddrFrom4([4]byte{10, 1, 1, byte(i + 1)}).String(), i)
		require.True(t, ok)
	}
	_, _, r, ok = add("10.1.1.99", 5)
	require.False(t, ok)
	assert.Equal(t, RefusedPendingPerSubnet, r)

	// Loopback is exempt: no share, never evicted; with every slot held
	// by loopback, a newcomer is refused as octez does.
	cfg.Admission.MaxIncomingConnections = 2
	s = pendingSet{}
	for i := range 2 {
		_, _, _, ok := add("127.0.0.1", i)
		require.True(t, ok)
	}
	_, _, r, ok = add("10.2.0.1", 3)
	require.False(t, ok)
	assert.Equal(t, RefusedTooManyIncoming, r)
}

func TestFailScores(t *testing.T) {
	var f failScores
	a := netip.MustParsePrefix("192.0.2.1/32")
	t0 := time.Unix(1000, 0)
	assert.False(t, f.add(a, 3, t0))
	assert.False(t, f.add(a, 3, t0.Add(time.Minute)))
	assert.True(t, f.add(a, 3, t0.Add(2*time.Minute)), "the third within the window greylists")
	assert.False(t, f.add(a, 3, t0.Add(3*time.Minute)), "and starts over")
	assert.False(t, f.add(a, 3, t0.Add(3*time.Minute+failWindow+time.Second)), "failures further apart do not add up")
	assert.False(t, f.add(a, 0, t0), "a limit of 0 never greylists")
	// Bounded: the stalest are forgotten.
	for i := range maxFailScores + 10 {
		f.add(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32), 3, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.LessOrEqual(t, len(f.m), maxFailScores)
}

// TestSelectEviction pins the eviction rule (see selectEviction) for
// many keys of the subnet hash, so that whichever 4 connections it
// protects, the rule holds.
func TestSelectEviction(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0.Add(time.Hour)
	at := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	subnet := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	}
	subnetA, subnetB, subnetC := subnet(1), subnet(2), subnet(3)
	var crowded []evictCandidate // 12 of A, 1 of B, established a second apart
	for i := range 12 {
		crowded = append(crowded, evictCandidate{id: uint64(i + 1), subnet: subnetA, established: t0.Add(time.Duration(i) * time.Second)})
	}
	crowded = append(crowded, evictCandidate{id: 13, subnet: subnetB, established: t0.Add(20 * time.Second)})
	byID := func(cands []evictCandidate, id uint64) evictCandidate {
		i := slices.IndexFunc(cands, func(c evictCandidate) bool { return c.id == id })
		require.GreaterOrEqual(t, i, 0)
		return cands[i]
	}
	for range 50 {
		seed := maphash.MakeSeed()
		evict := func(cands []evictCandidate, newcomer netip.Prefix) (evictCandidate, bool) {
			id, ok := selectEviction(cands, newcomer, seed, now.UnixNano())
			if !ok {
				return evictCandidate{}, false
			}
			return byID(cands, id), true
		}

		// Quiet (never delivered): the crowded subnet's, quiet the
		// longest; uptime protects none of them.
		v, ok := evict(crowded, subnetC)
		require.True(t, ok)
		assert.Equal(t, subnetA, v.subnet, "from the most represented subnet")
		assert.LessOrEqual(t, v.id, uint64(5), "the oldest of A the subnet hash did not protect")
		_, ok = evict(crowded, subnetA)
		assert.False(t, ok, "a newcomer from the crowded subnet evicts nobody")
		_, ok = evict(crowded[:4], subnetC)
		assert.False(t, ok, "too few candidates: every one is protected")

		// Nothing quiet: Core's rule. The older half is protected by
		// uptime; the youngest of the crowded subnet goes.
		busy := slices.Clone(crowded)
		for i := range busy {
			busy[i].lastUseful = at(time.Second)
		}
		v, ok = evict(busy, subnetC)
		require.True(t, ok)
		assert.Equal(t, subnetA, v.subnet)
		assert.GreaterOrEqual(t, v.id, uint64(7), "the older half is protected by uptime")

		// Issue 16: 20 idle connections from 20 subnets came first, 10
		// that deliver came later: an idle one goes, the oldest.
		var mixed []evictCandidate
		for i := range 20 {
			mixed = append(mixed, evictCandidate{id: uint64(i + 1), subnet: subnet(100 + i), established: t0.Add(time.Duration(i) * time.Second)})
		}
		for i := range 10 {
			mixed = append(mixed, evictCandidate{id: uint64(21 + i), subnet: subnet(200 + i), established: t0.Add(time.Minute + time.Duration(i)*time.Second), lastUseful: at(time.Duration(i) * time.Second)})
		}
		v, ok = evict(mixed, subnetC)
		require.True(t, ok)
		assert.Zero(t, v.lastUseful, "a connection that never delivered goes first")
		assert.LessOrEqual(t, v.id, uint64(5), "the one quiet the longest the hash did not protect")

		// Quiet for longer than evictQuietAfter counts as never: 8 that
		// deliver, 5 whose last message is 3 minutes old.
		var stale []evictCandidate
		for i := range 13 {
			c := evictCandidate{id: uint64(i + 1), subnet: subnet(100 + i), established: t0, lastUseful: at(time.Duration(i) * time.Second)}
			if i >= 8 {
				c.lastUseful = at(evictQuietAfter + time.Minute + time.Duration(i)*time.Second)
			}
			stale = append(stale, c)
		}
		v, ok = evict(stale, subnetC)
		require.True(t, ok)
		assert.Greater(t, v.id, uint64(8), "a connection quiet for minutes goes before those that deliver")

		// A newcomer that has not spoken yet goes after the quiet that
		// are older than it: 5 idle for an hour, 5 that just came.
		var young []evictCandidate
		for i := range 10 {
			est := t0
			if i >= 5 {
				est = now.Add(-time.Second)
			}
			young = append(young, evictCandidate{id: uint64(i + 1), subnet: subnet(100 + i), established: est})
		}
		v, ok = evict(young, subnetC)
		require.True(t, ok)
		assert.LessOrEqual(t, v.id, uint64(5), "the long idle before the newcomer still speaking up")
	}
}

// TestHandshakeSlotEviction: every handshake slot is held by silent
// sockets of one subnet; an honest peer from another gets in at once, the
// oldest silent socket losing its slot.
func TestHandshakeSlotEviction(t *testing.T) {
	n := newNetwork("mem")
	b := newNode(t, n, func(c *Config) { c.Admission.MaxIncomingConnections = 2 })
	first := dialSilentFrom(t, n, b, "10.66.0.1")
	waitFor(t, "the first handshake", func() bool { return b.Stats().Connections.IncomingHandshakes == 1 })
	dialSilentFrom(t, n, b, "10.66.0.2")
	waitFor(t, "the second handshake", func() bool { return b.Stats().Connections.IncomingHandshakes == 2 })
	a := nodeAt(t, n, "10.77.0.1", nil)
	connect(t, a, b)
	assert.Equal(t, io.EOF, waitRemoteEOF(t, first), "the oldest silent socket was cut")
	requireRefused(t, b, map[RefusalReason]uint64{RefusedHandshakeEvicted: 1})
}

func TestPerAddressAndSubnetShares(t *testing.T) {
	t.Run("pending from one address", func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		for range DefaultMaxPendingPerAddr {
			dialSilentFrom(t, n, b, "10.66.0.1")
		}
		waitFor(t, "the handshakes", func() bool { return b.Stats().Connections.IncomingHandshakes == DefaultMaxPendingPerAddr })
		over := dialSilentFrom(t, n, b, "10.66.0.1")
		assert.Equal(t, io.EOF, waitRemoteEOF(t, over), "closed at once, without a word")
		requireRefused(t, b, map[RefusalReason]uint64{RefusedPendingPerAddr: 1})
		connect(t, nodeAt(t, n, "10.66.0.2", nil), b) // a neighbour still gets in
	})
	t.Run("established from one address", func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, func(c *Config) { c.Admission.MaxIncomingPerAddr = 2 })
		for range 2 {
			connect(t, nodeAt(t, n, "10.66.0.1", nil), b)
		}
		_, err := nodeAt(t, n, "10.66.0.1", nil).Connect(ctxT(t), b.point)
		require.Error(t, err)
		requireRefused(t, b, map[RefusalReason]uint64{RefusedIncomingPerAddr: 1})
		connect(t, nodeAt(t, n, "10.66.0.2", nil), b)
		assert.Equal(t, 3, b.Conns().Len())
	})
	t.Run("established from one subnet", func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, func(c *Config) { c.Admission.MaxIncomingPerSubnet = 2 })
		connect(t, nodeAt(t, n, "10.66.0.1", nil), b)
		connect(t, nodeAt(t, n, "10.66.0.2", nil), b)
		_, err := nodeAt(t, n, "10.66.0.3", nil).Connect(ctxT(t), b.point)
		require.Error(t, err)
		requireRefused(t, b, map[RefusalReason]uint64{RefusedIncomingPerSubnet: 1})
		connect(t, nodeAt(t, n, "10.67.0.1", nil), b)
	})
}

// TestConnectionEviction: the pool is full of incoming peers from one
// subnet; a peer from another subnet evicts one of them, a peer from the
// crowded subnet is refused, and trusted peers are never evicted.
func TestConnectionEviction(t *testing.T) {
	const full = 12
	setup := func(t *testing.T, trust bool) (*network, *node, []*testConn) {
		n := newNetwork("mem")
		b := newNode(t, n, func(c *Config) {
			c.Limits.MaxConnections, c.Limits.ExpectedConnections, c.Limits.MinConnections = full, full, 1
			c.Admission.MaxIncomingPerSubnet = full
		})
		var ends []*testConn
		for i := range full {
			a := nodeAt(t, n, netip.AddrFrom4([4]byte{10, 66, 0, byte(i + 1)}).String(), nil)
			if trust {
				b.Peers().Trust(a.Config().Identity.PeerID)
			}
			_, cb := connect(t, a, b)
			ends = append(ends, cb)
		}
		return n, b, ends
	}
	t.Run("newcomer from another subnet", func(t *testing.T) {
		n, b, ends := setup(t, false)
		connect(t, nodeAt(t, n, "10.77.0.1", nil), b)
		evicted := 0
		for _, c := range ends {
			select {
			case <-c.Done():
				assert.Equal(t, ReasonEvicted, endReason(t, c).Reason)
				evicted++
			default:
			}
		}
		waitFor(t, "the evicted connection to be gone", func() bool { return b.Conns().Len() == full })
		assert.Equal(t, uint64(1), b.Stats().Connections.Evicted)
		_, err := nodeAt(t, n, "10.66.0.200", nil).Connect(ctxT(t), b.point)
		require.ErrorIs(t, err, ErrRejected, "from the crowded subnet: nacked, Too_many_connections")
		requireRefused(t, b, map[RefusalReason]uint64{RefusedTooManyConnections: 1})
	})
	t.Run("trusted peers are never evicted", func(t *testing.T) {
		n, b, _ := setup(t, true)
		_, err := nodeAt(t, n, "10.77.0.1", nil).Connect(ctxT(t), b.point)
		require.ErrorIs(t, err, ErrRejected)
		assert.Zero(t, b.Stats().Connections.Evicted)
	})
}

// TestStallingHandshakesGreylist: handshakes from one address that keep
// timing out end in a greylist entry for it.
func TestStallingHandshakesGreylist(t *testing.T) {
	n := newNetwork("mem")
	b := newNode(t, n, func(c *Config) { c.Timeouts.FirstMessage = 20 * time.Millisecond })
	addr := netip.MustParseAddr("10.66.0.1")
	for i := range DefaultHandshakeFailureLimit {
		assert.False(t, b.ACL().AddrBanned(addr), "not yet, after %d", i)
		nc := dialSilentFrom(t, n, b, addr.String())
		assert.Equal(t, io.EOF, waitRemoteEOF(t, nc))
		waitFor(t, "the handshake to end", func() bool { return b.Stats().Connections.IncomingHandshakes == 0 })
	}
	assert.True(t, b.ACL().AddrBanned(addr))
	requireRefused(t, b, map[RefusalReason]uint64{RefusedFirstMessageTimeout: DefaultHandshakeFailureLimit})
	nc := dialSilentFrom(t, n, b, addr.String())
	assert.Equal(t, io.EOF, waitRemoteEOF(t, nc))
	requireRefused(t, b, map[RefusalReason]uint64{RefusedFirstMessageTimeout: DefaultHandshakeFailureLimit, RefusedBanned: 1})
}

func TestIdleAndWriteTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			a := newNode(t, n, nil)
			b := newNode(t, n, func(c *Config) { c.Timeouts.Idle = 5 * time.Second })
			ca, cb := connect(t, a, b)
			start := time.Now()
			assert.Equal(t, ReasonIdle, endReason(t, cb).Reason)
			assert.InDelta(t, 5*time.Second, time.Since(start), float64(10*time.Millisecond), "idle from the last message: the handshake's end")
			assert.Equal(t, ReasonRemoteClosed, endReason(t, ca).Reason)
			assert.Equal(t, uint64(1), b.Stats().Connections.Ended[ReasonIdle], "counted in Stats")
		})
	})
	t.Run("busy is not idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			a := newNode(t, n, nil)
			b := newNode(t, n, func(c *Config) { c.Timeouts.Idle = 5 * time.Second })
			ca, cb := connect(t, a, b)
			// A message every 4 s for 48 s, either way: never idle.
			for i := range 12 {
				from, to := ca, cb
				if i%2 == 1 {
					from, to = cb, ca
				}
				require.NoError(t, from.Write(ctxT(t), numbered(i, 10)))
				readN(t, to, 1)
				time.Sleep(4 * time.Second)
			}
			assert.NoError(t, cb.Err())
			assert.Equal(t, ReasonIdle, endReason(t, cb).Reason, "then quiet: idle")
		})
	})
	t.Run("peer that never reads", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			b := newNode(t, n, func(c *Config) { c.Timeouts.Write = 3 * time.Second })
			_, cb := dialRaw(t, n, b) // reads nothing
			start := time.Now()
			require.NoError(t, cb.Write(ctxT(t), bigMsg(0)))
			de := endReason(t, cb)
			assert.Equal(t, ReasonWriteTimeout, de.Reason)
			assert.True(t, de.Remote)
			assert.InDelta(t, 3*time.Second, time.Since(start), float64(10*time.Millisecond))
			assert.Equal(t, uint64(1), b.Stats().Connections.Ended[ReasonWriteTimeout], "counted in Stats")
		})
	})
}
