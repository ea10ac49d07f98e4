package p2ppool

import (
	"context"
	"maps"
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePoint(t *testing.T) {
	id := PeerID{1, 2, 3}
	for _, tc := range []struct {
		in   string
		want PointSpec
	}{
		{"192.0.2.1:9732", PointSpec{Host: "192.0.2.1", Port: 9732}},
		{"[2001:db8::1]:9732", PointSpec{Host: "2001:db8::1", Port: 9732}},
		{"[::ffff:192.0.2.1]:1", PointSpec{Host: "192.0.2.1", Port: 1}},
		{"boot.tzbeta.net:9732", PointSpec{Host: "boot.tzbeta.net", Port: 9732}},
		{"localhost:0", PointSpec{Host: "localhost", Port: 0}},
		{"192.0.2.1:9732#" + id.String(), PointSpec{Host: "192.0.2.1", Port: 9732, Peer: id}},
		{"node-1.example.com:9733#" + id.String(), PointSpec{Host: "node-1.example.com", Port: 9733, Peer: id}},
	} {
		got, err := ParsePoint(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		back, err := ParsePoint(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "String reads back: %s", got)
	}
	for _, in := range []string{
		"", "192.0.2.1", ":9732", "192.0.2.1:65536", "192.0.2.01:1", "2001:db8::1:9732", "[fe80::1%eth0]:1",
		"bad_name:1", "-x.example:1", "a..b:1", "192.0.2.1:1#notapeer", "host:port", "1.2.3:4",
	} {
		_, err := ParsePoint(in)
		assert.ErrorIs(t, err, ErrInvalidPoint, "%q", in)
	}
}

func TestPointSpecResolve(t *testing.T) {
	pts, err := PointSpec{Host: "192.0.2.7", Port: 1}.Resolve(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.7:1")}, pts)
	// localhost resolves without a network (the hosts file).
	pts, err = PointSpec{Host: "localhost", Port: 9732}.Resolve(context.Background(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, pts)
	for _, pt := range pts {
		assert.True(t, pt.Addr().IsLoopback(), "%v", pt)
		assert.Equal(t, uint16(9732), pt.Port())
	}
}

// TestConnectPoint connects by name, and a "#peer_id" that does not match
// the peer there is refused.
func TestConnectPoint(t *testing.T) {
	n := newNetwork("tcp")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	c, err := a.ConnectPoint(ctxT(t), "localhost:"+strconv.Itoa(int(b.point.Port()))+"#"+b.Config().Identity.PeerID.String())
	require.NoError(t, err)
	assert.Equal(t, b.Config().Identity.PeerID, c.Peer())
	d := newNode(t, n, nil)
	_, err = d.ConnectPoint(ctxT(t), "127.0.0.1:"+strconv.Itoa(int(b.point.Port()))+"#"+PeerID{9}.String())
	assert.ErrorIs(t, err, ErrUnexpectedPeer)
}

// TestTrustNamed resolves a name into trusted points with the expected
// peer id, and a bad text trusts nothing.
func TestTrustNamed(t *testing.T) {
	n := newNetwork("tcp")
	a := newNode(t, n, nil)
	id := PeerID{7}
	pts, err := a.Points().TrustNamed(ctxT(t), "localhost:9732#"+id.String())
	require.NoError(t, err)
	require.NotEmpty(t, pts)
	for _, pt := range pts {
		info, ok := a.Points().Info(pt)
		require.True(t, ok, "%v known", pt)
		assert.True(t, info.Trusted, "%v trusted", pt)
		assert.Equal(t, id, info.ExpectedPeer)
	}
	before := len(maps.Collect(a.Points().All()))
	_, err = a.Points().TrustNamed(ctxT(t), "localhost#"+id.String())
	require.ErrorIs(t, err, ErrInvalidPoint)
	assert.Equal(t, before, len(maps.Collect(a.Points().All())))
}
