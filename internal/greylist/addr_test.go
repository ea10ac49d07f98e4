package greylist

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = Key(netip.MustParseAddr(s))
	}
	return out
}

func TestNewAddrGreylist(t *testing.T) {
	for _, size := range []int{-5, 0, MaxSizeKiB + 1} {
		_, err := NewAddrGreylist(size)
		assert.ErrorIs(t, err, ErrInvalidSize, "size %d", size)
	}
	g, err := NewAddrGreylist(DefaultIPGreylistSizeKiB)
	require.NoError(t, err)
	assert.Equal(t, 2048, g.Cap(), "FIFO capacity is the KiB size used as an entry count")
	assert.Equal(t, 23, g.Bloom().IndexBits())
	assert.Equal(t, 4<<20, g.Bloom().SizeBytes())
	assert.Zero(t, g.Len())
	assert.True(t, g.NotReliableSince().IsZero())
	assert.Empty(t, g.List())
}

// TestAddrGreylistFIFO checks the display FIFO and octez's
// fifo_not_reliable_since (p2p_acl.ml IPGreylist.add): the date of the
// first add that finds the FIFO full (before adding, even when the address
// is already in it), kept until Clear.
func TestAddrGreylistFIFO(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	a, b, c, d, e := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("2001:db8::3"), netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.5")

	type step struct {
		name        string
		do          func(g *AddrGreylist)
		list        []netip.Addr
		notReliable time.Time
		members     []netip.Addr
		nonMembers  []netip.Addr
	}
	steps := []step{
		{"add a", func(g *AddrGreylist) { g.Add(a, at(1)) }, mustAddrs("10.0.0.1"), time.Time{}, []netip.Addr{a}, []netip.Addr{b}},
		{"add b", func(g *AddrGreylist) { g.Add(b, at(2)) }, mustAddrs("10.0.0.1", "10.0.0.2"), time.Time{}, nil, nil},
		{"re-add a moves it to newest", func(g *AddrGreylist) { g.Add(a, at(3)) }, mustAddrs("10.0.0.2", "10.0.0.1"), time.Time{}, nil, nil},
		{"add c fills the FIFO", func(g *AddrGreylist) { g.Add(c, at(4)) }, mustAddrs("10.0.0.2", "10.0.0.1", "2001:db8::3"), time.Time{}, nil, nil},
		{"re-add of a present address on a full FIFO marks it unreliable", func(g *AddrGreylist) { g.Add(b, at(5)) },
			mustAddrs("10.0.0.1", "2001:db8::3", "10.0.0.2"), at(5), nil, nil},
		{"overflow evicts the oldest, date kept", func(g *AddrGreylist) { g.Add(d, at(6)) },
			mustAddrs("2001:db8::3", "10.0.0.2", "10.0.0.4"), at(5), []netip.Addr{a, b, c, d}, []netip.Addr{e}},
		{"remove frees a slot", func(g *AddrGreylist) { g.Remove(c) },
			mustAddrs("10.0.0.2", "10.0.0.4"), at(5), []netip.Addr{a, b, d}, []netip.Addr{c}},
		{"add on non-full FIFO keeps the date", func(g *AddrGreylist) { g.Add(e, at(7)) },
			mustAddrs("10.0.0.2", "10.0.0.4", "10.0.0.5"), at(5), nil, nil},
		{"ClearFilter keeps FIFO and date", func(g *AddrGreylist) { g.ClearFilter() },
			mustAddrs("10.0.0.2", "10.0.0.4", "10.0.0.5"), at(5), nil, []netip.Addr{a, b, d, e}},
		{"Clear resets everything", func(g *AddrGreylist) { g.Clear() }, []netip.Addr{}, time.Time{}, nil, []netip.Addr{a, b, c, d, e}},
		{"refill", func(g *AddrGreylist) { g.Add(a, at(8)); g.Add(b, at(9)); g.Add(c, at(10)) },
			mustAddrs("10.0.0.1", "10.0.0.2", "2001:db8::3"), time.Time{}, []netip.Addr{a, b, c}, nil},
		{"second overflow after Clear records the new date", func(g *AddrGreylist) { g.Add(d, at(11)); g.Add(e, at(12)) },
			mustAddrs("2001:db8::3", "10.0.0.4", "10.0.0.5"), at(11), nil, nil},
	}

	g, err := NewAddrGreylist(3) // FIFO capacity 3, 2^13 cells
	require.NoError(t, err)
	for _, s := range steps {
		s.do(g)
		assert.Equal(t, s.list, g.List(), s.name)
		assert.Equal(t, len(s.list), g.Len(), s.name)
		assert.Equal(t, s.notReliable, g.NotReliableSince(), s.name)
		for _, m := range s.members {
			assert.True(t, g.Contains(m), "%s: %s should be greylisted", s.name, m)
		}
		for _, m := range s.nonMembers {
			assert.False(t, g.Contains(m), "%s: %s should not be greylisted", s.name, m)
		}
	}
}

func TestAddrGreylistV4MappedSameEntry(t *testing.T) {
	g, err := NewAddrGreylist(4)
	require.NoError(t, err)
	now := time.Unix(1e9, 0)
	g.Add(netip.MustParseAddr("1.2.3.4"), now)
	g.Add(netip.MustParseAddr("::ffff:1.2.3.4"), now)
	g.Add(netip.MustParseAddr("fe80::1%eth0"), now)
	g.Add(netip.MustParseAddr("fe80::1"), now)
	assert.Equal(t, mustAddrs("::ffff:1.2.3.4", "fe80::1"), g.List())
	assert.True(t, g.List()[0].Is4In6(), "listed in the v4-mapped form, as octez")
	assert.Equal(t, netip.MustParseAddr("1.2.3.4"), g.List()[0].Unmap())
	assert.True(t, g.Contains(netip.MustParseAddr("1.2.3.4")))
	assert.True(t, g.Contains(netip.MustParseAddr("::ffff:1.2.3.4")))
	g.Remove(netip.MustParseAddr("::ffff:1.2.3.4"))
	assert.False(t, g.Contains(netip.MustParseAddr("1.2.3.4")))
	assert.Equal(t, mustAddrs("fe80::1"), g.List())
}

// TestAddrGreylistCountdownAndGC: the periodic Countdown forgets addresses
// after 15 steps but leaves them in the display list; GC (octez
// gc_greylist) is one more countdown followed by a purge of the list.
func TestAddrGreylistCountdownAndGC(t *testing.T) {
	now := time.Unix(1e9, 0)
	old, young := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::7")
	g, err := NewAddrGreylist(DefaultIPGreylistSizeKiB)
	require.NoError(t, err)

	g.Add(old, now)
	for range MaxCountdown - 1 {
		g.Countdown()
	}
	require.True(t, g.Contains(old), "one countdown left")
	g.Add(young, now)
	assert.Equal(t, mustAddrs("192.0.2.1", "2001:db8::7"), g.List())

	g.GC() // old's cells reach 0, young's 14
	assert.False(t, g.Contains(old))
	assert.True(t, g.Contains(young))
	assert.Equal(t, mustAddrs("2001:db8::7"), g.List(), "GC purges forgotten addresses")

	for range MaxCountdown - 1 {
		g.Countdown()
	}
	assert.False(t, g.Contains(young))
	assert.Equal(t, mustAddrs("2001:db8::7"), g.List(), "Countdown alone does not purge the list")
	assert.Zero(t, g.FillRatio())
	g.GC()
	assert.Empty(t, g.List())
	assert.Zero(t, g.Len())

	// GC on an empty greylist is harmless.
	g.GC()
	assert.Empty(t, g.List())
}

func TestAddrGreylistMonitoring(t *testing.T) {
	g, err := NewAddrGreylist(1) // 2^12 cells
	require.NoError(t, err)
	g.Add(netip.MustParseAddr("1.2.3.4"), time.Unix(1, 0)) // 5 distinct cells at ib=12
	assert.Equal(t, 5.0/4096, g.FillRatio())
	h := g.Histogram()
	assert.Equal(t, 5, h[MaxCountdown])
	assert.Equal(t, 1, g.Bloom().ApproxCount())
}

// TestAddrGreylistExpire: Expire forgets the addresses at least so many
// countdowns old and purges them from the display list; the younger stay.
func TestAddrGreylistExpire(t *testing.T) {
	now := time.Unix(1e9, 0)
	old, young := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::7")
	g, err := NewAddrGreylist(DefaultIPGreylistSizeKiB)
	require.NoError(t, err)
	g.Add(old, now)
	g.Countdown()
	g.Countdown()
	g.Add(young, now)
	g.Expire(3)
	assert.Equal(t, mustAddrs("192.0.2.1", "2001:db8::7"), g.List(), "nothing 3 countdowns old")
	g.Expire(2)
	assert.False(t, g.Contains(old))
	assert.True(t, g.Contains(young))
	assert.Equal(t, mustAddrs("2001:db8::7"), g.List())
	g.Expire(0)
	assert.False(t, g.Contains(young))
	assert.Empty(t, g.List())
}
