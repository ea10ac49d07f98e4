package socket

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/sched"
)

// A handshake with a KeyCache takes its channel key from the cache: the
// first meeting of two peers misses, a reconnection hits, and both give the
// key Precompute gives (messages flow, and the keys are compared).
func TestKeyCacheServesReconnects(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			iniCfg, respCfg := testConfig(t), testConfig(t)
			iniCfg.KeyCache = crypto.NewChannelKeyCache(&iniCfg.SecretKey, 4)
			respCfg.KeyCache = crypto.NewChannelKeyCache(&respCfg.SecretKey, 4)
			want, err := crypto.Precompute(&respCfg.PublicKey, &iniCfg.SecretKey)
			require.NoError(t, err)
			for round := range 2 {
				a, b := tr.pair(t)
				ir, rr := handshake(t, a, b, iniCfg, respCfg, nil)
				require.NoError(t, ir.err)
				require.NoError(t, rr.err)
				assert.Equal(t, want, ir.conn.key, "round %d", round)
				assert.Equal(t, want, rr.conn.key, "round %d", round)
				exchangeMessages(t, ir.conn, rr.conn, appMessage(0x10, []byte("ping")))
				exchangeMessages(t, rr.conn, ir.conn, appMessage(0x11, []byte("pong")))
			}
			for _, c := range []*crypto.ChannelKeyCache{iniCfg.KeyCache, respCfg.KeyCache} {
				st := c.Stats()
				assert.Equal(t, uint64(1), st.Misses)
				assert.Equal(t, uint64(1), st.Hits)
				assert.Equal(t, 1, st.Len)
			}
		})
	}
}

// Metadata and connection messages too big for the handshake's inline
// buffers go to the heap and still arrive whole.
func TestHandshakeWithLargeMetadataAndChainName(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			iniCfg, respCfg := testConfig(t), testConfig(t)
			long := make([]byte, 300)
			for i := range long {
				long[i] = 'A' + byte(i%26)
			}
			// A chain name pushes the connection message past
			// connMsgInline; both sides must announce the same one.
			for _, c := range []*Config{iniCfg, respCfg} {
				c.Version.ChainName = string(long)
			}
			iniCfg.Metadata = long[:metaInline+1]
			respCfg.Metadata = make([]byte, 2*syncWriteMax) // past the synchronous write too
			a, b := tr.pair(t)
			ir, rr := handshake(t, a, b, iniCfg, respCfg, nil)
			require.NoError(t, ir.err)
			require.NoError(t, rr.err)
			assert.Equal(t, respCfg.Metadata, ir.auth.Remote().Metadata)
			assert.Equal(t, iniCfg.Metadata, rr.auth.Remote().Metadata)
			assert.Equal(t, string(long), ir.auth.Remote().Version.ChainName)
			exchangeMessages(t, ir.conn, rr.conn, appMessage(0x10, []byte("ping")))
		})
	}
}

// Only kernel sockets, bare or behind the bandwidth scheduler, get the
// synchronous handshake writes; net.Pipe has no buffer.
func TestKernelBuffered(t *testing.T) {
	s, err := sched.New(sched.Config{})
	require.NoError(t, err)
	defer s.Close()
	ta, tb := tcpPair(t)
	defer tb.Close()
	pa, pb := net.Pipe()
	defer pb.Close()
	tw, pw := s.Wrap(ta), s.Wrap(pa)
	defer tw.Close()
	defer pw.Close()
	assert.True(t, kernelBuffered(ta))
	assert.True(t, kernelBuffered(tw))
	assert.False(t, kernelBuffered(pa))
	assert.False(t, kernelBuffered(pw))
}
