package p2ppool

import (
	"context"
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
		cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, MaintenanceIdleTime: Disabled}
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
		cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, MaintenanceIdleTime: Disabled}
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
