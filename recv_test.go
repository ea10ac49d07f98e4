package p2ppool

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPoolReadIsFair: three peers send at once, one of them ten times as
// much; Pool.Read takes one message per connection in turn, so the
// quiet peers' messages are not stuck behind the chatty one's, and every
// message comes with the connection it came from.
func TestPoolReadIsFair(t *testing.T) {
	n := newNetwork("mem")
	b := newNode(t, n, func(c *Config) { c.Limits.IncomingAppMessageQueueSize = 100 })
	var senders []*node
	var sent []*testConn
	for range 3 {
		a := newNode(t, n, nil)
		ab, _ := connect(t, a, b)
		senders = append(senders, a)
		sent = append(sent, ab)
	}
	counts := []int{30, 3, 3}
	for i, c := range sent {
		for j := range counts[i] {
			require.NoError(t, c.Write(ctxT(t), fmt.Sprintf("%d:%d", i, j)))
		}
	}
	waitFor(t, "everything queued", func() bool { return b.Stats().Queues.AppQueued == 36 })
	from := make(map[PeerID]int)
	seen := make(map[PeerID]int)
	for i, a := range senders {
		from[a.Config().Identity.PeerID] = i
	}
	var order []int
	for range 36 {
		c, m, err := b.Read(ctxT(t))
		require.NoError(t, err)
		i := from[c.Peer()]
		assert.Equal(t, fmt.Sprintf("%d:%d", i, seen[c.Peer()]), m, "in order, from the connection it names")
		seen[c.Peer()]++
		order = append(order, i)
	}
	// The quiet peers' six messages are among the first nine.
	quiet := 0
	for _, i := range order[:9] {
		if i != 0 {
			quiet++
		}
	}
	assert.Equal(t, 6, quiet, "round robin: %v", order)

	// WriteAll skips the peers it is told to.
	got, err := b.WriteAll("gossip", senders[0].Config().Identity.PeerID)
	require.NoError(t, err)
	assert.Equal(t, 2, got)

	require.NoError(t, b.Close())
	_, _, err = b.Read(ctxT(t))
	assert.ErrorIs(t, err, ErrPoolClosed)
}

// TestReadyListForgetsEndedConnections: an application that reads with
// Connection.Read only leaves no ended connection in Pool.Read's list.
func TestReadyListForgetsEndedConnections(t *testing.T) {
	n := newNetwork("mem")
	b := newNode(t, n, nil)
	for range 5 {
		a := newNode(t, n, nil)
		ab, ba := connect(t, a, b)
		require.NoError(t, ab.Write(ctxT(t), "hi"))
		readN(t, ba, 1)
		require.NoError(t, ab.Disconnect(ctxT(t), false))
		waitDone(t, ba)
	}
	b.ready.mu.Lock()
	defer b.ready.mu.Unlock()
	assert.Empty(t, b.ready.list)
	assert.Empty(t, b.ready.listed)
}
