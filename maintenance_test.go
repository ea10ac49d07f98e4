package p2ppool

import (
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaintenanceBounds(t *testing.T) {
	b := boundsOf(&Limits{MinConnections: 10, ExpectedConnections: 50, MaxConnections: 100})
	assert.Equal(t, bounds{minThreshold: 23, minTarget: 36, maxTarget: 68, maxThreshold: 84}, b, "octez's defaults")
}

// TestMaintenanceConverges: nodes that each know one other node's point
// find each other through the maintenance alone (dials, Bootstrap,
// Advertise), reach their targets, stay there when peers die, and take
// newcomers in.
func TestMaintenanceConverges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		// Each node dials from its listening address, as nodes on one host
		// do over TCP: the points peers learn from incoming connections
		// (address, announced port) are then dialable, as in the real
		// world, and discovery can spread them.
		newMaintained := func() *node {
			ln := n.listen(t)
			pt := ln.Addr().(*net.TCPAddr).AddrPort()
			p, err := NewBasic(textMessages(), Config{
				Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: fromAddr{n, pt.Addr()},
				// Thresholds 2 and 9: with at most 10 nodes nobody is ever
				// full, so a newcomer always finds room.
				Limits: Limits{MinConnections: 2, ExpectedConnections: 3, MaxConnections: 12},
				Maintenance: MaintenanceConfig{
					IdleTime: 10 * time.Second,
					// Swaps trade connections on purpose; the counts are
					// checked at arbitrary instants, so no trading here
					// (TestSwap covers it).
					SwapLinger: Disabled,
				},
			})
			require.NoError(t, err)
			return serveNode(t, p, ln)
		}
		b := boundsOf(&Limits{MinConnections: 2, ExpectedConnections: 3, MaxConnections: 12})
		var nodes []*node
		for range 8 {
			nodes = append(nodes, newMaintained())
		}
		for i, nd := range nodes {
			nd.Points().Register(nodes[(i+1)%len(nodes)].point)
		}
		inRange := func(phase string, nds []*node) {
			t.Helper()
			for i, nd := range nds {
				c := nd.Conns().Len()
				if !assert.GreaterOrEqual(t, c, b.minThreshold, "%s: node %d", phase, i) {
					for pt, pi := range nd.Points().All() {
						t.Logf("  point %v %v miss=%v reconnectAfter=%v public=%v", pt, pi.State, pi.LastMiss(), pi.ReconnectAfter, pi.KnownPublic)
					}
					for j, o := range nds {
						t.Logf("  node %d at %v: %d conns", j, o.point, o.Conns().Len())
					}
					t.Logf("  now %v", time.Now())
				}
				assert.LessOrEqual(t, c, b.maxThreshold, "%s: node %d", phase, i)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		inRange("start", nodes)

		// Two peers die: the others notice and make up for them.
		for _, nd := range nodes[:2] {
			require.NoError(t, nd.Close())
		}
		alive := nodes[2:]
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		inRange("after two died", alive)

		// Newcomers that know one point each are taken in.
		for range 2 {
			nd := newMaintained()
			nd.Points().Register(alive[0].point)
			alive = append(alive, nd)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		inRange("with newcomers", alive)
		require.NoError(t, alive[0].Maintain(ctxT(t)))
		for _, nd := range alive {
			nd.Close()
		}
	})
}

func TestMaintainDisabled(t *testing.T) {
	nd := newNode(t, newNetwork("mem"), nil)
	require.ErrorIs(t, nd.Maintain(ctxT(t)), ErrMaintenanceDisabled)
}
