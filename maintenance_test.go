package p2ppool

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaintenanceBounds(t *testing.T) {
	b := boundsOf(&Config{MinConnections: 10, ExpectedConnections: 50, MaxConnections: 100})
	assert.Equal(t, bounds{minThreshold: 23, minTarget: 36, maxTarget: 68, maxThreshold: 84}, b, "octez's defaults")
}

// TestMaintenanceConverges: nodes that each know one other node's point
// find each other through the maintenance alone (dials, Bootstrap,
// Advertise), reach their targets, stay there when peers die, and take
// newcomers in.
func TestMaintenanceConverges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("pipe")
		limits := func(c *Config) {
			c.MinConnections, c.ExpectedConnections, c.MaxConnections = 3, 4, 6
			c.MaintenanceIdleTime = 10 * time.Second
		}
		b := boundsOf(&Config{MinConnections: 3, ExpectedConnections: 4, MaxConnections: 6})
		var nodes []*node
		for range 8 {
			nodes = append(nodes, newNode(t, n, limits))
		}
		for i, nd := range nodes {
			nd.RegisterPoint(nodes[(i+1)%len(nodes)].point)
		}
		inRange := func(nds []*node) {
			t.Helper()
			for i, nd := range nds {
				c := nd.ActiveConnections()
				assert.GreaterOrEqual(t, c, b.minThreshold, "node %d", i)
				assert.LessOrEqual(t, c, b.maxThreshold, "node %d", i)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		inRange(nodes)

		// Two peers die: the others notice and make up for them.
		for _, nd := range nodes[:2] {
			require.NoError(t, nd.Close())
		}
		alive := nodes[2:]
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		inRange(alive)

		// Newcomers that know one point each are taken in.
		for range 2 {
			nd := newNode(t, n, limits)
			nd.RegisterPoint(alive[0].point)
			alive = append(alive, nd)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		inRange(alive)
		require.NoError(t, alive[0].Maintain(ctxT(t)))
		for _, nd := range alive {
			nd.Close()
		}
	})
}

func TestMaintainDisabled(t *testing.T) {
	nd := newNode(t, newNetwork("pipe"), nil)
	require.ErrorIs(t, nd.Maintain(ctxT(t)), ErrMaintenanceDisabled)
}
