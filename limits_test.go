package p2ppool

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetLimitsLowersMaxConnectionsThroughMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		hub := newNode(t, n, func(c *Config) {
			c.Limits.MinConnections, c.Limits.ExpectedConnections, c.Limits.MaxConnections = 1, 4, 8
			c.Maintenance.IdleTime = time.Hour
		})
		var peers []*node
		for range 6 {
			nd := newNode(t, n, nil)
			connect(t, nd, hub)
			peers = append(peers, nd)
		}
		require.Equal(t, 6, hub.Conns().Len())
		trusted := peers[0].Config().Identity.PeerID
		hub.Peers().Trust(trusted)
		// New bounds 1/2/3: max threshold 3, max target 3.
		require.NoError(t, hub.SetLimits(Limits{MinConnections: 1, ExpectedConnections: 2, MaxConnections: 3}))
		require.NoError(t, hub.Maintain(context.Background()))
		synctest.Wait()
		assert.Equal(t, 3, hub.Conns().Len(), "trimmed to the new target")
		_, kept := hub.Conns().ByPeer(trusted)
		assert.True(t, kept, "the trusted peer is spared")
		assert.Equal(t, 3, hub.Config().Limits.MaxConnections)

		err := hub.SetLimits(Limits{MinConnections: 5, ExpectedConnections: 2, MaxConnections: 3})
		require.Error(t, err, "min > expected is refused")
		assert.Equal(t, 3, hub.Config().Limits.MaxConnections, "nothing changed")
	})
}

func TestSetLimitsRaisesBandwidthWithinAPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a := newNode(t, n, func(c *Config) { c.Limits.MaxUploadSpeed = 10 << 10 })
		b := newNode(t, n, nil)
		ab, ba := connect(t, a, b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		msg := strings.Repeat("x", 1<<10)
		go func() {
			for ab.Write(ctx, msg) == nil {
			}
		}()
		received := func(d time.Duration) int {
			total := 0
			deadline := time.Now().Add(d)
			for time.Now().Before(deadline) {
				rctx, rcancel := context.WithDeadline(ctx, deadline)
				m, err := ba.Read(rctx)
				rcancel()
				if err != nil {
					break
				}
				total += len(m)
			}
			return total
		}
		slow := received(5 * time.Second)
		require.NoError(t, a.SetLimits(Limits{MaxUploadSpeed: 100 << 10}))
		received(time.Second) // one period for the new limit to settle
		fast := received(5 * time.Second)
		t.Logf("5 s at 10 KiB/s: %d bytes; 5 s at 100 KiB/s: %d bytes", slow, fast)
		assert.InDelta(t, 5*10240, slow, 0.15*5*10240)
		assert.InDelta(t, 5*102400, fast, 0.15*5*102400)
		cancel()
	})
}

// TestSetLimitsLeavesTheConfigAlone: the Config the pool was made with is
// immutable; the limits in force are kept apart, and Config reports them.
func TestSetLimitsLeavesTheConfigAlone(t *testing.T) {
	nd := newNode(t, newNetwork("mem"), nil)
	before := nd.cfg
	l := nd.Config().Limits
	l.MaxConnections, l.ExpectedConnections = 200, 60
	require.NoError(t, nd.SetLimits(l))
	assert.Equal(t, before, nd.cfg, "cfg untouched")
	assert.Equal(t, 200, nd.Config().Limits.MaxConnections, "Config shows the limits in force")
	assert.Equal(t, l, nd.Config().Limits)
	l.MinConnections = 500 // min > expected: refused, nothing changes
	require.Error(t, nd.SetLimits(l))
	assert.Equal(t, 200, nd.Config().Limits.MaxConnections)
}
