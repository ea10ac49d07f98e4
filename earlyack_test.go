package p2ppool

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Tests of the ack that goes out with the metadata (core.authenticate,
// admission.clearToAck). The far end is a raw peer in octez's order, run
// with internal/socket's Authenticate and Accept, written from octez's
// src/lib_p2p/p2p_socket.ml: authenticate (l. 404-475) writes its
// connection message, reads the peer's, writes its metadata and reads the
// peer's; accept (l. 870-905) then writes its Ack and reads the peer's.
// Each read takes exactly one chunk (Crypto.read_chunk, l. 96: read_full
// of the 2-byte length, then of the tag and the body) from the
// connection's read buffer (p2p_io_scheduler.ml, l. 415-435), so an ack
// that arrived with the metadata waits there until octez reads it.

// recordingConn is a raw peer's connection that keeps every byte it
// receives and can wait for bytes without handing them to its reader
// yet (await), so that a test can see what the pool sent before the raw
// peer answers.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	got     []byte // every byte received, in order
	pending int    // how many of got's last bytes Read has not returned
}

func (c *recordingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.pending > 0 {
		n := copy(p, c.got[len(c.got)-c.pending:])
		c.pending -= n
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got = append(c.got, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// await reads until n bytes in all have been received, keeping the new
// ones for Read, and returns every byte received.
func (c *recordingConn) await(n int) ([]byte, error) {
	var buf [512]byte
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			got := c.got
			c.mu.Unlock()
			return got, nil
		}
		c.mu.Unlock()
		m, err := c.Conn.Read(buf[:])
		c.mu.Lock()
		c.got = append(c.got, buf[:m]...)
		c.pending += m
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// TestPoolAcksWithItsMetadata: a pool that would accept the peer sends
// its ack right behind its metadata, before the peer's metadata has come:
// the raw peer, having sent only its connection message, receives two
// sealed chunks (metadata, then a one-byte ack), then completes the
// handshake in octez's order. A pool in octez's order would send the ack
// only after the peer's metadata, and the wait for the second chunk
// would fail the test at its timeout.
func TestPoolAcksWithItsMetadata(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			b := newNode(t, n, nil)
			nc, err := n.DialContext(ctxT(t), "tcp", b.point.String())
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close() })
			rc := &recordingConn{Conn: nc}
			id := testIdentity(t)
			cfg := rawConfig(t, id, wire.Metadata{})
			auth, err := socket.Hello(ctxT(t), rc, false, &cfg)
			require.NoError(t, err)

			ack := awaitEarlyAck(t, rc)
			assert.Equal(t, crypto.TagSize+1, int(binary.BigEndian.Uint16(ack)), "a one-byte sealed chunk")

			// The rest in octez's order: the ack just seen is an Ack (a
			// Nack_v_0, also one byte, would fail Accept).
			require.NoError(t, auth.ExchangeMetadata(&cfg, false))
			sc, err := auth.Accept()
			require.NoError(t, err)
			t.Cleanup(func() { sc.Close(); sc.Free() })
			waitConn(t, b, id.PeerID)
		})
	}
}

// awaitEarlyAck waits until the pool's connection message, metadata chunk
// and one more chunk, its early ack, have come on rc, and returns that
// last chunk. It fails the test if they do not come within the test's
// timeout: the raw peer has sent nothing after its connection message.
func awaitEarlyAck(t testing.TB, rc *recordingConn) []byte {
	t.Helper()
	chunks := make(chan []byte, 1)
	go func() {
		got, err := rc.await(2)
		if err == nil {
			hello := 2 + int(binary.BigEndian.Uint16(got))
			if got, err = rc.await(hello + 2); err == nil {
				meta := 2 + int(binary.BigEndian.Uint16(got[hello:]))
				got, err = rc.await(hello + meta + 2 + crypto.TagSize + 1)
				if err == nil {
					got = got[hello+meta:]
				}
			}
		}
		if err != nil {
			got = nil
		}
		chunks <- got
	}()
	select {
	case ack := <-chunks:
		require.NotNil(t, ack, "the connection failed before the ack")
		return ack
	case <-ctxT(t).Done():
		t.Fatal("no ack before our metadata")
		return nil
	}
}

// TestReplayedConnectionMessageAdmitsNothing: the early ack is decided
// on the connection message alone, which anyone can replay, so nothing
// may be admitted before the metadata proves the key. A raw peer sends
// the connection message of an identity whose secret key it does not
// hold: the pool refuses it at the metadata stage, as before, without
// ever registering, accepting or announcing the peer.
func TestReplayedConnectionMessageAdmitsNothing(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			b := newNode(t, n, nil)
			w := b.Watch(ctxT(t), 64)
			defer w.Close()
			victim, impostor := testIdentity(t), testIdentity(t)
			nc, err := n.DialContext(ctxT(t), "tcp", b.point.String())
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close() })
			cfg := rawConfig(t, victim, wire.Metadata{})
			cfg.SecretKey = crypto.SecretKey(impostor.SecretKey) // the victim's public key, not its secret one
			auth, err := socket.Authenticate(ctxT(t), nc, false, &cfg)
			if err == nil {
				_, err = auth.Accept()
			}
			require.Error(t, err, "the impostor cannot decipher the pool's metadata")

			var failed Event
			for {
				e, err := w.Next(ctxT(t))
				require.NoError(t, err)
				require.NotEqual(t, EventAcceptingRequest, e.Kind, "admitted on a replayed connection message")
				if e.Kind == EventAuthenticationFailed {
					failed = e
					break
				}
			}
			var he *HandshakeError
			require.ErrorAs(t, failed.Err, &he)
			assert.Equal(t, StageMetadata, he.Stage)
			// The impostor's metadata fails to decipher, unless the
			// impostor, failing first on the pool's, hung up before its
			// own was read (on the mem network, which buffers nothing).
			assert.True(t, errors.Is(failed.Err, ErrDecipher) || errors.Is(failed.Err, ErrClosedDuringHandshake), "%v", failed.Err)
			_, known := b.Peers().Info(victim.PeerID)
			assert.False(t, known, "the victim's peer id was registered")
			assert.Zero(t, b.Conns().Len())
		})
	}
}

// TestEarlyAckRefusedAfterwards: the rare case the early ack leaves, where
// admission refuses what clearToAck let through because the state changed
// in between. Two raw peers of one identity say hello; the pool acks both
// early, since the peer is not connected yet. The first completes and is
// admitted; the second, admitted after it, is refused as already
// connected and, having had the pool's ack, sees its connection close
// instead of a nack. The first connection is untouched.
func TestEarlyAckRefusedAfterwards(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			b := newNode(t, n, nil)
			id := testIdentity(t)
			cfg := rawConfig(t, id, wire.Metadata{})
			// Each hello returns once the pool's ack has come: the pool
			// decided on both before either goes on.
			hello := func() *socket.AuthConn {
				nc, err := n.DialContext(ctxT(t), "tcp", b.point.String())
				require.NoError(t, err)
				t.Cleanup(func() { nc.Close() })
				rc := &recordingConn{Conn: nc}
				auth, err := socket.Hello(ctxT(t), rc, false, &cfg)
				require.NoError(t, err)
				awaitEarlyAck(t, rc)
				return auth
			}
			first, second := hello(), hello()

			require.NoError(t, first.ExchangeMetadata(&cfg, false))
			sc, err := first.Accept()
			require.NoError(t, err)
			t.Cleanup(func() { sc.Close(); sc.Free() })
			bc := waitConn(t, b, id.PeerID)

			require.NoError(t, second.ExchangeMetadata(&cfg, false))
			sc2, err := second.Accept()
			require.NoError(t, err, "the pool's ack went out with its metadata")
			t.Cleanup(func() { sc2.Close(); sc2.Free() })
			_, err = sc2.ReadMessage()
			require.Error(t, err, "the pool closes the second connection")
			requireRefused(t, b, map[RefusalReason]uint64{RefusedAlreadyConnected: 1})

			got, ok := b.Conns().ByPeer(id.PeerID)
			require.True(t, ok)
			assert.Same(t, bc, got)
			assert.Equal(t, 1, b.Conns().Len())
			still := wire.Message{Tag: 0x10, Body: []byte("still here")}
			require.NoError(t, sc.WriteMessages(still.Append(nil)))
		})
	}
}
