package p2ppool

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockProbe reports calls made while the pool's lock is held: it asks for
// the lock on another goroutine and waits a moment; under the lock that
// ask cannot finish until the caller returns.
type lockProbe struct {
	pool  atomic.Pointer[Pool[text, int, Metadata]]
	calls atomic.Int64
	under atomic.Int64
}

func (lp *lockProbe) check() {
	p := lp.pool.Load()
	if p == nil {
		return
	}
	lp.calls.Add(1)
	done := make(chan struct{})
	//lint:ignore SA2001 the empty critical section is the probe: it completes only if no one holds p.mu
	go func() { p.mu.Lock(); p.mu.Unlock(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		lp.under.Add(1)
	}
}

type probeHandler struct{ lp *lockProbe }

func (h probeHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h probeHandler) Handle(context.Context, slog.Record) error {
	h.lp.check()
	return nil
}
func (h probeHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h probeHandler) WithGroup(string) slog.Handler      { return h }

// TestNoCallbackUnderThePoolLock: the logger's handler and the peer
// metadata callbacks are never called with the pool's lock held, so they
// may call the pool back (doc.go's promise), through connections,
// refusals, metadata changes, a peer-table GC and shutdown.
func TestNoCallbackUnderThePoolLock(t *testing.T) {
	lp := &lockProbe{}
	n := newNetwork("mem")
	meta := PeerMetaConfig[int]{
		Initial: func() int { lp.check(); return 0 },
		Score:   func(m int) float64 { lp.check(); return float64(m) },
	}
	p, err := New(textMessages(), meta, OctezConnMeta(), Config{
		Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled},
		Logger: slog.New(probeHandler{lp}),
		Tables: TableConfig{MaxKnownPeerIDs: TableLimit{High: 4, Low: 2}},
	})
	require.NoError(t, err)
	lp.pool.Store(p)
	ln := n.listen(t)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	for i := range 6 { // more peers than the table holds: GC runs
		a := newNode(t, n, nil)
		c, err := a.Connect(ctxT(t), ln.Addr().(*net.TCPAddr).AddrPort())
		require.NoError(t, err)
		require.NoError(t, c.Write(ctxT(t), "hello"))
		p.Peers().SetMeta(a.Config().Identity.PeerID, i)
		require.NoError(t, c.Disconnect(ctxT(t), false))
	}
	require.NoError(t, p.Shutdown(ctxT(t)))
	<-served
	assert.Positive(t, lp.calls.Load(), "the probe ran")
	assert.Zero(t, lp.under.Load(), "calls made under the pool's lock")
}
