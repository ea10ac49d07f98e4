package p2ppool

import (
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// TestLocalMetaPerPeer: ConnMetaConfig.Local is called once per
// handshake with the remote's peer id, once its connection message is in
// (octez computes conn_meta_value there, p2p_socket.ml:441), and the
// metadata sent is the one it returned for that peer; the connection's
// LocalMeta is that value. The far ends are scripted peers running the
// handshake of p2p_socket.ml (internal/socket), which read what the pool
// sent.
func TestLocalMetaPerPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		fav, other := testIdentity(t), testIdentity(t)
		var mu sync.Mutex
		var calls []PeerID
		cm := OctezConnMeta()
		cm.Local = func(peer PeerID) Metadata {
			mu.Lock()
			calls = append(calls, peer)
			mu.Unlock()
			return Metadata{DisableMempool: peer == fav.PeerID}
		}
		cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
		p, err := New(textMessages(), PeerMetaConfig[struct{}]{}, cm, cfg)
		require.NoError(t, err)
		nd := serveNode(t, p, n.listen(t))
		for _, tc := range []struct {
			id   *Identity
			want bool
		}{{fav, true}, {other, false}} {
			nc, err := n.DialContext(context.Background(), "tcp", nd.point.String())
			require.NoError(t, err)
			rc := rawConfig(t, tc.id, wire.Metadata{})
			auth, err := socket.Authenticate(context.Background(), nc, false, &rc)
			require.NoError(t, err)
			got, err := wire.DecodeMetadata(auth.Remote().Metadata)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.DisableMempool, "metadata the pool sent to %v", tc.id.PeerID)
			sc, err := auth.Accept()
			require.NoError(t, err)
			c := waitConn(t, nd, tc.id.PeerID)
			assert.Equal(t, Metadata{DisableMempool: tc.want}, c.Info().LocalMeta)
			require.NoError(t, sc.Close())
		}
		mu.Lock()
		assert.Equal(t, []PeerID{fav.PeerID, other.PeerID}, calls, "once per handshake, with the remote's id")
		mu.Unlock()
	})
}

// TestLocalMetaTooLarge: metadata from Local that does not fit one chunk
// fails that handshake with ErrLocalMetadataTooLarge, a local fault: the
// peer is not greylisted, and the pool goes on (New no longer checks it:
// it may depend on the peer).
func TestLocalMetaTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		big := make([]byte, socket.MaxChunkPayload+1)
		cm := ConnMetaConfig[[]byte]{
			Local:  func(PeerID) []byte { return big },
			Encode: func(dst, m []byte) []byte { return append(dst, m...) },
			Decode: func(b []byte) ([]byte, error) { return slices.Clone(b), nil },
		}
		cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
		p, err := New(textMessages(), PeerMetaConfig[struct{}]{}, cm, cfg)
		require.NoError(t, err)
		defer p.Close()
		ln := n.listen(t)
		go p.Serve(ln)
		w := p.Watch(context.Background(), 0)
		defer w.Close()
		id := testIdentity(t)
		nc, err := n.DialContext(context.Background(), "tcp", ln.Addr().String())
		require.NoError(t, err)
		defer nc.Close()
		rc := rawConfig(t, id, wire.Metadata{})
		_, err = socket.Authenticate(context.Background(), nc, false, &rc)
		require.Error(t, err, "the pool hung up")
		for {
			e, err := w.Next(context.Background())
			require.NoError(t, err)
			if e.Kind == EventAuthenticationFailed {
				require.ErrorIs(t, e.Err, ErrLocalMetadataTooLarge)
				break
			}
		}
		l := p.ACL().List()
		assert.Empty(t, l.GreylistedAddrs)
		assert.Empty(t, l.GreylistedPeers)
	})
}

// TestMetaAs: the core keeps metadata as any, and metaAs gives it back
// as the application's type. A value of another type, or no value where
// the type is not an interface, can only come from a bug in the pool: it
// panics naming both types instead of returning a zero value that the
// application would take for real metadata. A nil of an interface type
// is a value like any other.
func TestMetaAs(t *testing.T) {
	assert.Equal(t, Metadata{PrivateNode: true}, metaAs[Metadata](Metadata{PrivateNode: true}, "m"))
	assert.Nil(t, metaAs[error](nil, "m"), "a nil error is an error")
	assert.Nil(t, metaAs[any](nil, "m"))
	var np *Metadata
	assert.Nil(t, metaAs[*Metadata](np, "m"), "a nil pointer is stored with its type")
	assert.PanicsWithValue(t,
		"p2ppool: peer metadata holds a string where the pool's type is p2ppool.Metadata: a bug in p2ppool, please report it",
		func() { metaAs[Metadata]("x", "peer metadata") })
	assert.PanicsWithValue(t,
		"p2ppool: ConnMetaConfig.Local holds a <nil> where the pool's type is p2ppool.Metadata: a bug in p2ppool, please report it",
		func() { metaAs[Metadata](nil, "ConnMetaConfig.Local") })
	assert.Panics(t, func() { metaAs[error](42, "m") })
}

// TestInterfaceMeta: metadata types may be interfaces, and nil is then a
// legitimate value everywhere the pool hands metadata back (connection
// Info, Peers.Meta and Info, Score's and MarshalJSON's argument), not a
// wrong type: two pools whose ConnMeta is any and PeerMeta is error,
// with nil metadata, connect and read it back as nil; a non-nil value set
// with SetMeta comes back as itself.
func TestInterfaceMeta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		cm := ConnMetaConfig[any]{
			Local:  func(PeerID) any { return nil },
			Encode: func(dst []byte, m any) []byte { return dst },
			Decode: func([]byte) (any, error) { return nil, nil },
		}
		var mu sync.Mutex
		var scored []error
		pm := PeerMetaConfig[error]{
			Score: func(m error) float64 {
				mu.Lock()
				scored = append(scored, m)
				mu.Unlock()
				return 1
			},
		}
		newPool := func() *Pool[text, error, any] {
			cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
			p, err := New(textMessages(), pm, cm, cfg)
			require.NoError(t, err)
			return p
		}
		a, b := newPool(), newPool()
		defer a.Close()
		defer b.Close()
		ln := n.listen(t)
		served := make(chan error, 1)
		go func() { served <- b.Serve(ln) }()
		synctest.Wait()
		c, err := a.Connect(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort())
		require.NoError(t, err)
		info := c.Info()
		assert.Nil(t, info.LocalMeta)
		assert.Nil(t, info.RemoteMeta)
		peer := info.Peer
		assert.Nil(t, a.Peers().Meta(peer))
		pi, ok := a.Peers().Info(peer)
		require.True(t, ok)
		assert.Nil(t, pi.Meta)
		assert.Nil(t, a.Peers().Meta(PeerID{7}), "an unknown peer's initial metadata: a nil error")

		set := errors.New("set")
		require.NoError(t, a.Peers().SetMeta(peer, set))
		assert.Same(t, set, a.Peers().Meta(peer))
		mu.Lock()
		assert.Contains(t, scored, nil, "Score saw the nil initial metadata")
		assert.Contains(t, scored, set)
		mu.Unlock()
		require.NoError(t, b.Close())
		require.ErrorIs(t, <-served, ErrPoolClosed)
	})
}

// TestConnectionShadowsNoField: the typed Connection and the conn it
// embeds name each field once, so c.info or c.queue in a method means
// one thing whichever half the method is on.
func TestConnectionShadowsNoField(t *testing.T) {
	core := map[string]bool{}
	ct := reflect.TypeFor[conn]()
	for i := range ct.NumField() {
		core[ct.Field(i).Name] = true
	}
	tt := reflect.TypeFor[Connection[text, Metadata]]()
	require.True(t, tt.Field(0).Anonymous, "Connection embeds *conn first")
	for i := 1; i < tt.NumField(); i++ {
		assert.False(t, core[tt.Field(i).Name], "Connection.%s shadows conn.%[1]s", tt.Field(i).Name)
	}
}
