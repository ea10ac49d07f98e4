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
			assert.Equal(t, b.Config().Identity.PeerID, ca.Peer())
			assert.Equal(t, b.point, ca.Info().Point)
			assert.Equal(t, a.point.Port(), cb.Info().Point.Port(), "incoming id_point carries the announced port")
			assert.Equal(t, NetworkVersion{ChainName: "P2PPOOL_TEST", DistributedDB: 2, P2P: 1}, ca.Info().Version)
			assert.Equal(t, 1, a.Conns().Len())
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
	totals := func() [4]uint64 {
		s := a.Stats()
		return [4]uint64{s.Traffic.MsgsSent, s.Traffic.MsgsRecv, s.Traffic.BytesSent, s.Traffic.BytesRecv}
	}
	before := totals()
	require.Equal(t, uint64(1), before[0])
	require.NoError(t, ca.Disconnect(ctx, false))
	assert.Equal(t, before, totals(), "totals survive the connection")
}
