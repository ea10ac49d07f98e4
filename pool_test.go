package p2ppool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTwoPoolsExchangeMessages(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ca, cb := connect(t, a, b)
			ctx := ctxT(t)
			require.NoError(t, ca.Write(ctx, "hello"))
			got, err := cb.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, "hello", got)
			require.NoError(t, cb.WriteSync(ctx, "world"))
			got, err = ca.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, "world", got)

			assert.False(t, ca.Info().Incoming)
			assert.True(t, cb.Info().Incoming)
			assert.Equal(t, b.Identity().PeerID, ca.Peer())
			assert.Equal(t, b.point, ca.Info().Point)
			assert.Equal(t, a.point.Port(), cb.Info().Point.Port(), "incoming id_point carries the announced port")
			assert.Equal(t, NetworkVersion{ChainName: "P2PPOOL_TEST", DistributedDB: 2, P2P: 1}, ca.Info().Version)
			assert.Equal(t, 1, a.ActiveConnections())
		})
	}
}

func TestPoolStatKeepsEndedConnections(t *testing.T) {
	n := newNetwork("mem")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	ca, cb := connect(t, a, b)
	ctx := ctxT(t)
	require.NoError(t, ca.WriteSync(ctx, "counted"))
	_, err := cb.Read(ctx)
	require.NoError(t, err)
	before := a.Stat()
	require.Equal(t, uint64(1), before.MsgsSent)
	require.NoError(t, ca.Disconnect(ctx, false))
	assert.Equal(t, before, a.Stat(), "totals survive the connection")
}
