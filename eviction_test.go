package p2ppool

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/socket"
)

// TestHonestPeersKeepSlotsUnderIdleFirstcomers is issue 16's eviction
// attack: 90 idle connections from 90 /24s fill the pool first, then 20
// honest peers from 20 other /24s come in and send a message every
// second, and an attacker's newcomer from a fresh /24 arrives every
// 500 ms for 60 s, each evicting someone. The honest peers keep their
// slots (at least 15 of 20 must; the old rule, which protected the idle
// first-comers by uptime, let in 10 and kept 8): the quiet go first.
func TestHonestPeersKeepSlotsUnderIdleFirstcomers(t *testing.T) {
	if testing.Short() {
		t.Skip("230 connections")
	}
	synctest.Test(t, func(t *testing.T) {
		const (
			idlers  = 90
			honest  = 20
			arrival = 500 * time.Millisecond
			window  = 60 * time.Second
		)
		n := newNetwork("mem")
		b := newNode(t, n, nil) // octez's 100 connections
		var mu sync.Mutex
		var socks []*socket.Conn // every attacker's socket, closed at the end
		keep := func(sc *socket.Conn) {
			mu.Lock()
			socks = append(socks, sc)
			mu.Unlock()
		}
		for i := range idlers {
			sc := rawHandshake(t, n, b, netip.AddrFrom4([4]byte{10, 66, byte(i), 1}))
			require.NotNil(t, sc, "idler %d", i)
			keep(sc)
		}
		time.Sleep(10 * time.Second) // the idlers are the old ones

		// The application reads everything.
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wg.Go(func() {
			for {
				if _, _, err := b.Read(ctx); err != nil {
					return
				}
			}
		})
		stop := make(chan struct{})
		honestAddr := make(map[netip.Addr]bool)
		for i := range honest {
			src := netip.AddrFrom4([4]byte{10, 77, byte(i), 1})
			honestAddr[src] = true
			sc := rawHandshake(t, n, b, src)
			require.NotNil(t, sc, "honest peer %d", i)
			wg.Go(func() {
				defer func() { sc.Close(); sc.Free() }()
				msg := appMsg(0x1000, dataenc.AppendString(nil, "hello"))
				for {
					if sc.WriteMessages(msg) != nil {
						return // evicted
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			})
		}
		honestIn := func() (k int) {
			for _, c := range b.Conns().All() {
				if ap, _ := addrPortOf(c.Info().RemoteAddr); honestAddr[ap.Addr()] {
					k++
				}
			}
			return k
		}
		synctest.Wait()
		assert.Equal(t, honest, honestIn(), "every honest peer got in")
		evictedBefore := b.Stats().Connections.Evicted

		start := time.Now()
		for i := 0; time.Since(start) < window; i++ {
			time.Sleep(arrival)
			if sc := rawHandshake(t, n, b, netip.AddrFrom4([4]byte{10, 88 + byte(i>>8), byte(i), 1})); sc != nil {
				keep(sc)
			}
		}
		synctest.Wait()
		kept := honestIn()
		s := b.Stats()
		t.Logf("after %v of newcomers: %d of %d honest peers kept their slots; %d evictions; %v", window, kept, honest, s.Connections.Evicted-evictedBefore, s)
		assert.GreaterOrEqual(t, kept, 15)
		assert.Greater(t, s.Connections.Evicted-evictedBefore, uint64(100), "the newcomers did evict")

		close(stop)
		mu.Lock()
		for _, sc := range socks {
			sc.Close()
			sc.Free()
		}
		mu.Unlock()
		waitFor(t, "the connections to end", func() bool { return b.Conns().Len() == 0 })
		require.NoError(t, b.Close())
		wg.Wait()
	})
}
