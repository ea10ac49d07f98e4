package p2ppool

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the ACL (spec §2) and of expected peer ids: bans and
// greylists refuse connections both ways and end running ones, lifting
// them admits again, automatic punishment spares what the operator
// trusts, and greylisted addresses decay on the housekeeping ticker. They
// run in synctest bubbles over the mem network, where nodes created with
// newNodeFrom dial from a known address (every other dial comes from an
// address of its own).

// newNodeFrom is newNode for a pool whose connections come from src.
func newNodeFrom(t testing.TB, n *network, src netip.Addr, mutate func(*Config)) *node {
	t.Helper()
	return newNode(t, n, func(c *Config) {
		c.Dialer = fromAddr{n, src}
		if mutate != nil {
			mutate(c)
		}
	})
}

// endedWith waits for c to end and checks why.
func endedWith(t testing.TB, c *testConn, reason DisconnectReason, remote bool) {
	t.Helper()
	<-c.Done()
	de := disconnectError(t, c.Err())
	assert.Equal(t, reason, de.Reason, "connection with %v", c.Peer())
	assert.Equal(t, remote, de.Remote)
}

func requireConnRunning(t testing.TB, c *testConn) {
	t.Helper()
	require.NoError(t, c.Err(), "connection with %v", c.Peer())
}

func TestGreylistAddr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a, c := newNodeFrom(t, n, srcA, nil), newNodeFrom(t, n, srcB, nil)
		ab, ba := connectSettled(t, a, b)
		_, bc := connectSettled(t, c, b)

		// Running connections from the address end; others do not.
		b.ACL().GreylistAddr(srcA)
		endedWith(t, ba, ReasonGreylisted, false)
		endedWith(t, ab, ReasonRemoteClosed, true)
		synctest.Wait()
		requireConnRunning(t, bc)
		assert.True(t, b.ACL().AddrBanned(srcA))
		assert.False(t, b.ACL().AddrBanned(srcB))
		assert.False(t, b.Peers().Banned(a.Config().Identity.PeerID), "greylisting an address spares its peers")

		// New connections from it are closed at once, and counted.
		_, err := a.Connect(context.Background(), b.point)
		requireHungUp(t, err)
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedBanned: 1}, b.Stats().Connections.Refused)
		assert.Equal(t, 1, b.Conns().Len())

		// Dialling it is refused before anything is registered.
		pt := netip.AddrPortFrom(srcA, 9732)
		_, err = b.Connect(context.Background(), pt)
		require.ErrorIs(t, err, ErrPointBanned)
		assert.False(t, knows(b.testPool, pt))
		// The port does not matter.
		_, err = b.Connect(context.Background(), netip.AddrPortFrom(srcA, 1))
		require.ErrorIs(t, err, ErrPointBanned)
	})
}

func TestGreylistPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		// a and d share an address (a NAT).
		a, d := newNodeFrom(t, n, srcA, nil), newNodeFrom(t, n, srcA, nil)
		_, ba := connectSettled(t, a, b)
		_, bd := connectSettled(t, d, b)
		peer := a.Config().Identity.PeerID

		// The peer's connection ends; its id and its address are
		// greylisted for new connections. The other peer behind that
		// address keeps its connection (octez): only GreylistAddr cuts
		// every connection from an address.
		b.ACL().GreylistPeer(peer)
		endedWith(t, ba, ReasonGreylisted, false)
		assert.True(t, b.Peers().Banned(peer))
		assert.True(t, b.ACL().AddrBanned(srcA))
		assert.False(t, b.Peers().Banned(d.Config().Identity.PeerID))
		synctest.Wait()
		assert.NoError(t, bd.Err(), "the neighbour on the same address stays")

		// Dialling the peer (its listening address is not greylisted):
		// refused once it is identified.
		_, err := b.Connect(context.Background(), a.point)
		require.ErrorIs(t, err, ErrPeerBanned)
		var he *HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, peer, he.Peer)
		assert.Equal(t, StageAck, he.Stage)

		// The same peer from another address: refused and counted.
		a2 := newNodeFrom(t, n, srcB, func(c *Config) { c.Identity = a.Config().Identity })
		_, err = a2.Connect(context.Background(), b.point)
		requireHungUp(t, err)
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedBanned: 1}, b.Stats().Connections.Refused)

		// A peer that is not connected is greylisted too (octez ignores
		// it); no address is.
		other := PeerID{0x42}
		b.ACL().GreylistPeer(other)
		assert.True(t, b.Peers().Banned(other))

		// Peers().Unban lifts the peer's greylisting.
		b.Peers().Unban(peer)
		assert.False(t, b.Peers().Banned(peer))
		connectSettled(t, a2, b)
	})
}

func TestBanAddrAndPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a, c := newNodeFrom(t, n, srcA, nil), newNodeFrom(t, n, srcB, nil)
		peerA, peerC := a.Config().Identity.PeerID, c.Config().Identity.PeerID
		_, ba := connectSettled(t, a, b)
		_, bc := connectSettled(t, c, b)

		// With banPeers, the peers of the address's connections are
		// banned too.
		b.ACL().BanAddr(srcA, true)
		endedWith(t, ba, ReasonBanned, false)
		assert.True(t, b.ACL().AddrBanned(srcA))
		assert.True(t, b.Peers().Banned(peerA))
		b.ACL().BanAddr(srcB, false)
		endedWith(t, bc, ReasonBanned, false)
		assert.True(t, b.ACL().AddrBanned(srcB))
		assert.False(t, b.Peers().Banned(peerC))
		synctest.Wait()

		_, err := a.Connect(context.Background(), b.point)
		requireHungUp(t, err)
		// UnbanAddr lifts the address ban, but a's connection ended with
		// the ban: its peer id stays banned (octez unbans the peers of
		// running connections only).
		b.ACL().UnbanAddr(srcA)
		assert.False(t, b.ACL().AddrBanned(srcA))
		assert.True(t, b.Peers().Banned(peerA))
		_, err = a.Connect(context.Background(), b.point)
		requireHungUp(t, err)
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedBanned: 2}, b.Stats().Connections.Refused)
		b.Peers().Unban(peerA)
		assert.False(t, b.Peers().Banned(peerA))
		ab, ba := connectSettled(t, a, b)

		// One unban lifts any number of bans (octez needs one each).
		b.ACL().BanAddr(srcB, false)
		b.ACL().UnbanAddr(srcB)
		assert.False(t, b.ACL().AddrBanned(srcB))
		connectSettled(t, c, b)

		// Peers().Ban ends the peer's connection.
		b.Peers().Ban(peerA)
		endedWith(t, ba, ReasonBanned, false)
		endedWith(t, ab, ReasonRemoteClosed, true)
		assert.True(t, b.Peers().Banned(peerA))
		assert.False(t, b.ACL().AddrBanned(srcA))
		b.Peers().Unban(peerA)
		_, ba = connectSettled(t, a, b)

		// ACL().Clear lifts everything.
		b.ACL().BanAddr(srcA, true)
		endedWith(t, ba, ReasonBanned, false)
		b.ACL().GreylistAddr(srcC)
		b.Peers().Ban(PeerID{1})
		b.ACL().GreylistPeer(PeerID{2})
		b.ACL().Clear()
		for _, addr := range []netip.Addr{srcA, srcB, srcC} {
			assert.False(t, b.ACL().AddrBanned(addr), "%v", addr)
		}
		for _, id := range []PeerID{peerA, {1}, {2}} {
			assert.False(t, b.Peers().Banned(id), "%v", id)
		}
		synctest.Wait()
		connectSettled(t, a, b)
	})
}

func TestTrustLiftsBans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil)
		a := newNodeFrom(t, n, srcA, nil)

		b.ACL().GreylistAddr(srcA)
		b.ACL().BanAddr(srcA, false)
		pt := netip.AddrPortFrom(srcA, a.point.Port())
		b.Points().Trust(pt)
		assert.False(t, b.ACL().AddrBanned(srcA))
		pi, _ := b.Points().Info(pt)
		assert.True(t, pi.Trusted)

		peer := a.Config().Identity.PeerID
		b.Peers().Ban(peer)
		b.ACL().GreylistPeer(peer)
		b.Peers().Trust(peer)
		assert.False(t, b.Peers().Banned(peer))
		pe, _ := b.Peers().Info(peer)
		assert.True(t, pe.Trusted)
		connectSettled(t, a, b)
	})
}

func TestPunishmentSparesTrusted(t *testing.T) {
	// A peer sending a message that does not decode loses its
	// connection; its id and address are greylisted unless trusted.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, nil)
		misbehave := func(src netip.Addr, id *Identity) {
			t.Helper()
			auth := scriptedDial(t, fromAddr{n, src}, nd, id, 0)
			sc, err := auth.Accept()
			require.NoError(t, err)
			synctest.Wait()
			conn, ok := nd.Conns().ByPeer(id.PeerID)
			require.True(t, ok)
			require.NoError(t, sc.WriteMessages(appMsg(0x2000, dataenc.AppendString(nil, "?"))))
			<-conn.Done()
			de := disconnectError(t, conn.Err())
			assert.Equal(t, ReasonProtocolError, de.Reason)
			assert.ErrorIs(t, de, ErrUnknownTag)
		}

		// A well-behaved neighbour behind the same address (a NAT) keeps
		// its connection.
		neighbour := newNodeFrom(t, n, srcA, nil)
		toNd, _ := connectSettled(t, neighbour, nd)
		untrusted := testIdentity(t)
		misbehave(srcA, untrusted)
		assert.True(t, nd.Peers().Banned(untrusted.PeerID))
		assert.True(t, nd.ACL().AddrBanned(srcA))
		synctest.Wait()
		requireConnRunning(t, toNd)

		trusted := testIdentity(t)
		nd.Peers().Trust(trusted.PeerID)
		misbehave(srcB, trusted)
		assert.False(t, nd.Peers().Banned(trusted.PeerID), "trusted peer")
		assert.False(t, nd.ACL().AddrBanned(srcB), "address of a trusted peer")

		atTrusted := testIdentity(t)
		nd.Points().Trust(netip.AddrPortFrom(srcC, 9732))
		misbehave(srcC, atTrusted)
		assert.True(t, nd.Peers().Banned(atTrusted.PeerID), "untrusted peer at a trusted address")
		assert.False(t, nd.ACL().AddrBanned(srcC), "trusted address")
	})
}

func TestGreylistDecays(t *testing.T) {
	// With Greylist.Timeout 16 s the housekeeping goroutine counts the
	// greylist down every second; an address is forgotten after 15
	// countdowns, i.e. 14 to 15 periods after it was greylisted.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		t0 := time.Now() // the countdown ticks at t0 + k s
		b := newNode(t, n, func(c *Config) { c.Greylist.Timeout = 16 * time.Second })
		a := newNodeFrom(t, n, srcA, nil)
		time.Sleep(time.Until(t0.Add(500 * time.Millisecond)))
		b.ACL().GreylistAddr(srcA)
		greylisted := time.Now()
		var refused uint64
		for b.ACL().AddrBanned(srcA) {
			require.Less(t, time.Since(greylisted), time.Minute, "the greylist does not decay")
			_, err := a.Connect(context.Background(), b.point)
			requireHungUp(t, err)
			refused++
			time.Sleep(time.Second)
		}
		assert.Equal(t, greylisted.Add(15*time.Second).Round(0), time.Now().Round(0), "banned at +14 s, free at +15 s")
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedBanned: refused}, b.Stats().Connections.Refused)
		connectSettled(t, a, b)
	})
}

func TestGCGreylist(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil) // countdown every 1.5 h: no tick here
		p1, p2, p3 := PeerID{1}, PeerID{2}, PeerID{3}
		b.ACL().GreylistPeer(p1)
		b.ACL().GreylistPeer(p3)
		time.Sleep(10 * time.Second)
		b.ACL().GreylistPeer(p2)
		b.ACL().GreylistPeer(p3) // greylisted again: its age starts over
		time.Sleep(5 * time.Second)

		b.ACL().GC(10 * time.Second)
		assert.False(t, b.Peers().Banned(p1), "greylisted 15 s ago")
		assert.True(t, b.Peers().Banned(p2), "greylisted 5 s ago")
		assert.True(t, b.Peers().Banned(p3), "greylisted again 5 s ago")
		b.ACL().GC(5 * time.Second)
		assert.True(t, b.Peers().Banned(p2), "exactly 5 s ago is not longer ago than 5 s")
		b.ACL().GC(0)
		assert.False(t, b.Peers().Banned(p2))
		assert.False(t, b.Peers().Banned(p3))

		// GC(0) forgets a greylisted address at once (before, it took
		// 15 calls: each was one countdown).
		b.ACL().GreylistAddr(srcA)
		require.True(t, b.ACL().AddrBanned(srcA))
		b.ACL().GC(time.Hour)
		assert.True(t, b.ACL().AddrBanned(srcA), "greylisted within the hour")
		b.ACL().GC(0)
		assert.False(t, b.ACL().AddrBanned(srcA))
		assert.Empty(t, b.ACL().List().GreylistedAddrs)
		// Banned peers are not greylisted peers: ACL().GC leaves them.
		b.Peers().Ban(p1)
		b.ACL().GC(0)
		assert.True(t, b.Peers().Banned(p1))
	})
}

// TestGCGreylistAddrAge: ACL.GC(olderThan) forgets the addresses
// greylisted more than olderThan ago and keeps the younger ones, to the
// filter's resolution, a countdown period (Greylist.Timeout/16, here 1 h).
func TestGCGreylistAddrAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, func(c *Config) { c.Greylist.Timeout = 16 * time.Hour })
		start := time.Now() // countdowns at +1 h, +2 h, +3 h...
		require.NoError(t, b.ACL().GreylistAddr(srcA))
		time.Sleep(150 * time.Minute)
		require.NoError(t, b.ACL().GreylistAddr(srcB))
		time.Sleep(time.Hour) // now +3h30; A is 3h30 old, B 1 h
		synctest.Wait()
		require.Equal(t, 210*time.Minute, time.Since(start))

		require.NoError(t, b.ACL().GC(4*time.Hour))
		assert.True(t, b.ACL().AddrBanned(srcA), "3h30 is not older than 4 h")
		require.NoError(t, b.ACL().GC(3*time.Hour))
		assert.True(t, b.ACL().AddrBanned(srcA), "older than 3 h, but no countdown ran between its greylisting and 3 h ago (the filter's resolution)")
		require.NoError(t, b.ACL().GC(2*time.Hour))
		assert.False(t, b.ACL().AddrBanned(srcA), "greylisted before the countdown of +1 h, 2h30 ago: older than 2 h")
		assert.True(t, b.ACL().AddrBanned(srcB), "1 h old")
		assert.Equal(t, []netip.Addr{srcB}, b.ACL().List().GreylistedAddrs)
		require.NoError(t, b.ACL().GC(time.Hour))
		assert.True(t, b.ACL().AddrBanned(srcB), "exactly 1 h is not older than 1 h")
		require.NoError(t, b.ACL().GC(30*time.Minute))
		assert.False(t, b.ACL().AddrBanned(srcB), "greylisted before the countdown of +3 h, 30 min ago")
	})
}

func TestExpectedPeerID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a, c := newNode(t, n, nil), newNode(t, n, nil)
		peerC := c.Config().Identity.PeerID
		x := PeerID{0x42}

		// Outgoing: the peer at the point is not the expected one.
		a.Points().SetExpectedPeerID(c.point, x)
		pi, ok := a.Points().Info(c.point)
		require.True(t, ok, "SetExpectedPeerID registers the point")
		assert.Equal(t, x, pi.ExpectedPeer)
		now := time.Now()
		_, err := a.Connect(context.Background(), c.point)
		require.ErrorIs(t, err, ErrUnexpectedPeer)
		var he *HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, peerC, he.Peer)
		pi, _ = a.Points().Info(c.point)
		assert.Equal(t, PointDisconnected, pi.State)
		assert.Equal(t, now.Round(0), pi.LastFailedConnection.Round(0))
		assert.Equal(t, x, pi.ExpectedPeer)
		assert.False(t, a.ACL().AddrBanned(c.point.Addr()), "no greylisting")
		assert.False(t, a.Peers().Banned(peerC))
		_, known := a.Peers().Info(peerC)
		assert.False(t, known, "checked before the peer is registered")
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedHandshakeFailed: 1}, c.Stats().Connections.Refused, "a hung up on c")

		// Incoming: the point is the dialler's address and announced
		// port; the refusal is counted.
		b, d := newNode(t, n, nil), newNodeFrom(t, n, srcA, nil)
		b.Points().SetExpectedPeerID(netip.AddrPortFrom(srcA, d.point.Port()), x)
		_, err = d.Connect(context.Background(), b.point)
		requireHungUp(t, err)
		synctest.Wait()
		assert.Equal(t, map[RefusalReason]uint64{RefusedUnexpectedPeer: 1}, b.Stats().Connections.Refused)
		assert.False(t, b.ACL().AddrBanned(srcA))

		// The expected peer is admitted.
		a.Points().SetExpectedPeerID(c.point, peerC)
		ac, _ := connectSettled(t, a, c)

		// A running connection with another peer than the new expected
		// one ends, and the address is greylisted.
		a.Points().SetExpectedPeerID(c.point, x)
		endedWith(t, ac, ReasonUnexpectedPeer, false)
		assert.True(t, a.ACL().AddrBanned(c.point.Addr()))
		assert.False(t, a.Peers().Banned(peerC))

		// A handshake past admission with another peer: only the
		// address is greylisted (octez), the handshake goes on.
		srv := newScriptedServer(t, n)
		res := goConnect(a.testPool, srv.point)
		auth := srv.handshake(t)
		synctest.Wait()
		pi, _ = a.Points().Info(srv.point)
		require.Equal(t, PointAccepted, pi.State)
		a.Points().SetExpectedPeerID(srv.point, x)
		assert.True(t, a.ACL().AddrBanned(srv.point.Addr()))
		sc, err := auth.Accept()
		require.NoError(t, err)
		r := <-res
		require.NoError(t, r.err)
		require.NoError(t, sc.Close())
		<-r.c.Done()
	})
}

func TestStatsReportGreylistFill(t *testing.T) {
	nd := newNode(t, newNetwork("mem"), nil)
	assert.Zero(t, nd.Stats().Greylist.Fill)
	nd.ACL().GreylistAddr(netip.MustParseAddr("192.0.2.7"))
	nd.ACL().GreylistPeer(PeerID{7})
	s := nd.Stats()
	assert.Equal(t, 1, s.Greylist.Addrs)
	assert.Equal(t, 1, s.Greylist.Peers)
	assert.Greater(t, s.Greylist.Fill, 0.0)
}

// TestACLList lists what is banned and greylisted in the form it was
// given (IPv4 addresses unmapped), and nothing after Clear.
func TestACLList(t *testing.T) {
	a := newNode(t, newNetwork("mem"), nil)
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	require.NoError(t, a.ACL().GreylistAddr(v4))
	require.NoError(t, a.ACL().GreylistAddr(v6))
	require.NoError(t, a.ACL().GreylistPeer(PeerID{2}))
	require.NoError(t, a.ACL().BanAddr(netip.MustParseAddr("198.51.100.7"), false))
	require.NoError(t, a.Peers().Ban(PeerID{3}))
	l := a.ACL().List()
	assert.Equal(t, []netip.Addr{v4, v6}, l.GreylistedAddrs)
	assert.Equal(t, []PeerID{{2}}, l.GreylistedPeers)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("198.51.100.7")}, l.BannedAddrs)
	assert.Equal(t, []PeerID{{3}}, l.BannedPeers)
	assert.True(t, l.GreylistNotReliableSince.IsZero())
	require.NoError(t, a.ACL().Clear())
	l = a.ACL().List()
	assert.Empty(t, l.GreylistedAddrs)
	assert.Empty(t, l.GreylistedPeers)
	assert.Empty(t, l.BannedAddrs)
	assert.Empty(t, l.BannedPeers)
}

// TestClearExpectedPeerID: clearing the expected peer id of a point, by
// ClearExpectedPeerID or SetExpectedPeerID with the zero id, ends no
// connection and greylists nothing (before, the zero id was "another
// peer": the running connection was cut with ReasonUnexpectedPeer and
// its address greylisted).
func TestClearExpectedPeerID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clear func(Points, netip.AddrPort) error
	}{
		{"ClearExpectedPeerID", Points.ClearExpectedPeerID},
		{"SetExpectedPeerID zero", func(v Points, pt netip.AddrPort) error { return v.SetExpectedPeerID(pt, PeerID{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				a, c := newNode(t, n, nil), newNode(t, n, nil)
				peerC := c.Config().Identity.PeerID
				require.NoError(t, a.Points().SetExpectedPeerID(c.point, peerC))
				ac, _ := connectSettled(t, a, c)

				require.NoError(t, tc.clear(a.Points(), c.point))
				synctest.Wait()
				require.NoError(t, ac.Context().Err(), "the running connection survives")
				_, ok := a.Conns().ByPeer(peerC)
				assert.True(t, ok)
				assert.False(t, a.ACL().AddrBanned(c.point.Addr()), "no greylisting")
				pi, _ := a.Points().Info(c.point)
				assert.True(t, pi.ExpectedPeer.IsZero())
				assert.Equal(t, PointRunning, pi.State)

				// An unknown point: nothing to clear, nothing registered.
				unknown := netip.MustParseAddrPort("192.0.2.9:9732")
				require.NoError(t, tc.clear(a.Points(), unknown))
				_, known := a.Points().Info(unknown)
				assert.False(t, known)
			})
		})
	}
}
