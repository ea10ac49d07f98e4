package p2ppool

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Parked readers (connection.go, read): on p2ppooltest's network the
// reader of an idle connection exits and the network starts it again.
// These tests check every way a parked connection must wake up: a
// message, the peer's Disconnect, our own, the idle timeout, the pool's
// Close.

// parkedPair connects two pools on the in-memory network, inside a
// synctest bubble, and returns them with their ends once both readers
// are parked: no goroutine runs for the connection.
func parkedPair(t *testing.T, mutate func(*Config)) (a, b *node, ca, cb *testConn) {
	t.Helper()
	n := newNetwork("mem")
	a, b = newNode(t, n, mutate), newNode(t, n, mutate)
	synctest.Wait()
	base := userGoroutines()
	ca, cb = connect(t, a, b)
	synctest.Wait()
	require.Equal(t, base, userGoroutines(), "no goroutine for an idle connection")
	return a, b, ca, cb
}

func TestParkedReaderWakesForMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, ca, cb := parkedPair(t, nil)
		ctx := ctxT(t)
		for i := range 3 { // parked again between them
			require.NoError(t, ca.Write(ctx, text(rune('a'+i))))
			m, err := cb.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, text(rune('a'+i)), m)
			synctest.Wait()
		}
		// A burst of large messages, read in many steps, with the
		// reader waiting for room in its application queue in between.
		const burst = 40
		written := make(chan error, 1)
		go func() {
			for i := range burst {
				if err := ca.Write(ctx, bigMsg(i)); err != nil {
					written <- err
					return
				}
			}
			written <- nil
		}()
		for i := range burst {
			m, err := cb.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, bigMsg(i), m)
		}
		require.NoError(t, <-written)
	})
}

func TestParkedConnectionEnds(t *testing.T) {
	ends := map[string]func(t *testing.T, a, b *node, ca, cb *testConn){
		"peer disconnects": func(t *testing.T, a, b *node, ca, cb *testConn) {
			require.NoError(t, ca.Disconnect(ctxT(t), false))
		},
		"peer drains then disconnects": func(t *testing.T, a, b *node, ca, cb *testConn) {
			require.NoError(t, ca.Write(ctxT(t), "last"))
			require.NoError(t, ca.Disconnect(ctxT(t), true))
			m, err := cb.Read(ctxT(t))
			require.NoError(t, err)
			assert.Equal(t, text("last"), m)
		},
		"disconnected here": func(t *testing.T, a, b *node, ca, cb *testConn) {
			require.NoError(t, cb.Disconnect(ctxT(t), false))
		},
		"pool closed": func(t *testing.T, a, b *node, ca, cb *testConn) {
			require.NoError(t, b.Close())
		},
		"idle timeout": func(t *testing.T, a, b *node, ca, cb *testConn) {
			time.Sleep(time.Minute)
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, ca, cb := parkedPair(t, func(c *Config) { c.Timeouts.Idle = 30 * time.Second })
				end(t, a, b, ca, cb)
				synctest.Wait()
				for _, c := range []*testConn{ca, cb} {
					select {
					case <-c.Done():
					default:
						t.Fatalf("%v's end still runs", c.Info().Peer)
					}
				}
				_, ok := b.Conns().ByPeer(a.Config().Identity.PeerID)
				assert.False(t, ok, "still in the table")
			})
		})
	}
}

// TestParkedReaderFlood: a peer that sends its messages one by one, each
// after the reader has parked, makes the pool start a reader for each,
// and every one of them exits: the goroutines do not pile up, whatever
// the number of messages, and each message is delivered.
func TestParkedReaderFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, nil)
		synctest.Wait()
		before := userGoroutines()
		src := netip.MustParseAddr("10.200.0.1")
		sc := hostilePeer(t, n, nd, src, 7000)
		c := waitConnFrom(t, nd, src)
		synctest.Wait()
		base := userGoroutines()
		require.Equal(t, before+1, base, "the peer's own reader only: the pool's is parked")
		ctx := ctxT(t)
		const messages = 2000
		for i := range messages {
			body := fmt.Sprint(i)
			encoded := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...) // a data-encoding string
			require.NoError(t, sc.WriteMessages(appMsg(0x1000, encoded)))
			m, err := c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, text(body), m)
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if got := userGoroutines(); got != base {
				t.Fatalf("message %d: %d goroutines, want %d: the reader did not park again", i, got, base)
			}
		}
		assert.EqualValues(t, messages, c.Stat().MsgsRecv)
	})
}
