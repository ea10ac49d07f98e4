package socket

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/wire"
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

// helloThenAccept is one side of a handshake through Hello and
// ExchangeMetadata, acking with the metadata when early is set.
func helloThenAccept(nc net.Conn, incoming bool, cfg *Config, early bool) handshakeResult {
	a, err := Hello(context.Background(), nc, incoming, cfg)
	if err != nil {
		return handshakeResult{err: err}
	}
	if err := a.ExchangeMetadata(cfg, early); err != nil {
		return handshakeResult{err: err}
	}
	c, err := a.Accept()
	return handshakeResult{auth: a, conn: c, err: err}
}

// An ack sent with the metadata (ExchangeMetadata(true)) completes the
// handshake with a peer that follows octez's order (Authenticate, then
// Accept: metadata, then ack) on either side, and with a peer that acks
// early too; messages then flow both ways.
func TestEarlyAckHandshake(t *testing.T) {
	cases := []struct {
		name             string
		iniEarly, rEarly bool
	}{
		{"initiator early", true, false},
		{"responder early", false, true},
		{"both early", true, true},
	}
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				iniCfg, respCfg := testConfig(t), testConfig(t)
				respCfg.Metadata = wire.Metadata{DisableMempool: true}.Append(nil)
				x, y := tr.pair(t)
				ch := make(chan handshakeResult, 1)
				go func() { ch <- helloThenAccept(y, true, respCfg, tc.rEarly) }()
				ir := helloThenAccept(x, false, iniCfg, tc.iniEarly)
				rr := <-ch
				require.NoError(t, ir.err)
				require.NoError(t, rr.err)
				for _, c := range []*Conn{ir.conn, rr.conn} {
					t.Cleanup(func() { c.Close(); c.Free() })
				}
				assert.Equal(t, tc.iniEarly, ir.auth.Acked())
				assert.Equal(t, tc.rEarly, rr.auth.Acked())
				assert.Equal(t, []byte{0xff, 0}, ir.auth.Remote().Metadata)
				assert.Equal(t, []byte{0, 0}, rr.auth.Remote().Metadata)
				exchangeMessages(t, ir.conn, rr.conn, appMessage(0x10, []byte("ping")))
				exchangeMessages(t, rr.conn, ir.conn, appMessage(0x11, []byte("pong")))
			})
		}
	}
}

// The early ack does not wait for the peer's metadata: a peer that sends
// its connection message and nothing more reads our metadata and then
// our ack. In octez's order the ack would only come after the peer's
// metadata, and the second read would run into its deadline.
func TestEarlyAckComesWithTheMetadata(t *testing.T) {
	iniCfg, respCfg := testConfig(t), testConfig(t)
	x, y := tcpPair(t)
	t.Cleanup(func() { x.Close(); y.Close() })
	done := make(chan error, 1)
	go func() {
		a, err := Hello(context.Background(), y, true, respCfg)
		if err == nil {
			err = a.ExchangeMetadata(respCfg, true)
		}
		done <- err
	}()
	a, err := Hello(context.Background(), x, false, iniCfg)
	require.NoError(t, err)
	require.NoError(t, x.SetReadDeadline(time.Now().Add(10*time.Second)))
	meta, err := a.c.readHandshakeChunk()
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0}, meta)
	pt, err := a.c.readHandshakeChunk()
	require.NoError(t, err, "the responder's ack, before our metadata")
	ack, err := wire.DecodeAck(pt)
	require.NoError(t, err)
	assert.Equal(t, wire.AckOK, ack.Kind)
	a.Close()
	err = <-done
	var he *HandshakeError
	require.ErrorAs(t, err, &he, "the responder still waits for our metadata")
	assert.Equal(t, StageMetadata, he.Stage)
}

// Nack after an early ack is refused: the peer already has our ack, so
// the connection is closed instead.
func TestNackAfterEarlyAck(t *testing.T) {
	iniCfg, respCfg := testConfig(t), testConfig(t)
	x, y := tcpPair(t)
	ch := make(chan handshakeResult, 1)
	go func() { ch <- helloThenAccept(y, true, respCfg, false) }()
	a, err := Hello(context.Background(), x, false, iniCfg)
	require.NoError(t, err)
	require.NoError(t, a.ExchangeMetadata(iniCfg, true))
	require.ErrorIs(t, a.Nack(wire.TooManyConnections, nil), errNackAfterAck)
	// The responder had our ack: its handshake succeeded, and the
	// connection then ends.
	rr := <-ch
	require.NoError(t, rr.err)
	t.Cleanup(func() { rr.conn.Close(); rr.conn.Free() })
	// (EOF, or a reset: we closed with the responder's ack unread.)
	_, err = rr.conn.ReadMessage()
	require.Error(t, err)
}
