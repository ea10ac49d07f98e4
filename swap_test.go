package p2ppool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// TestSwap runs octez's swap between real pools: a asks one of its peers
// (r) to swap, proposing its other peer (p); r answers with one of its own
// peers (o), connects to p and drops o; a connects to o and drops p.
func TestSwap(t *testing.T) {
	n := newNetwork("tcp")
	a := newNode(t, n, nil)
	b, c := newNode(t, n, nil), newNode(t, n, nil)
	d, e := newNode(t, n, nil), newNode(t, n, nil)
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, d) // b's own peer, with a known point
	connect(t, c, e)
	others := map[PeerID]*node{b.Config().Identity.PeerID: b, c.Config().Identity.PeerID: c}
	offerOf := map[PeerID]*node{b.Config().Identity.PeerID: d, c.Config().Identity.PeerID: e}

	watch := a.Watch(ctxT(t), 0)
	defer watch.Close()
	require.NoError(t, a.SendSwapRequest())
	sent := nextOf(t, watch, EventSwapRequestSent)
	r := others[sent.Peer]
	require.NotNil(t, r, "the recipient is one of a's peers")
	o := offerOf[sent.Peer]
	var p *node
	for id, nd := range others {
		if id != sent.Peer {
			p = nd
		}
	}
	nextOf(t, watch, EventSwapAckReceived)
	success := nextOf(t, watch, EventSwapSuccess)
	assert.Equal(t, o.point, success.Point, "a connected to the peer r offered")

	waitFor(t, "a and r swapped", func() bool {
		_, aO := a.Conns().ByPeer(o.Config().Identity.PeerID)
		_, aP := a.Conns().ByPeer(p.Config().Identity.PeerID)
		_, rP := r.Conns().ByPeer(p.Config().Identity.PeerID)
		_, rO := r.Conns().ByPeer(o.Config().Identity.PeerID)
		return aO && !aP && rP && !rO
	})

	// Within swap_linger, r ignores a new request.
	rw := r.Watch(ctxT(t), 0)
	defer rw.Close()
	ca, ok := a.Conns().ByPeer(r.Config().Identity.PeerID)
	require.True(t, ok)
	fresh := newNode(t, n, nil)
	req := wire.Message{Tag: wire.TagSwapRequest, Point: fresh.point, PeerID: fresh.Config().Identity.PeerID}
	require.NoError(t, ca.pushNow(outItem{b: req.Append(nil)}))
	for {
		ev := nextOf(t, rw, EventSwapRequestReceived, EventSwapRequestIgnored)
		if ev.Kind == EventSwapRequestIgnored {
			break
		}
	}
}

// nextOf returns the next event of one of kinds, skipping others.
func nextOf(t *testing.T, w *Watcher, kinds ...EventKind) Event {
	t.Helper()
	ctx := ctxT(t)
	for {
		e, err := w.Next(ctx)
		require.NoError(t, err, "waiting for %v", kinds)
		for _, k := range kinds {
			if e.Kind == k {
				return e
			}
		}
	}
}
