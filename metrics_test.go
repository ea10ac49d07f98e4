package p2ppool

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recMetrics records the Metrics calls of one pool.
type recMetrics struct {
	mu                sync.Mutex
	opened            map[bool]int // by incoming
	closed            map[DisconnectReason]int
	lifetimes         []time.Duration
	handshakes        map[HandshakeStage]int
	refused           map[RefusalReason]int
	dropped           map[DropReason]int
	bytesIn, bytesOut int
}

var _ Metrics = (*recMetrics)(nil)

func newRecMetrics() *recMetrics {
	return &recMetrics{
		opened: map[bool]int{}, closed: map[DisconnectReason]int{}, handshakes: map[HandshakeStage]int{},
		refused: map[RefusalReason]int{}, dropped: map[DropReason]int{},
	}
}

func (r *recMetrics) ConnOpened(incoming bool) { r.mu.Lock(); r.opened[incoming]++; r.mu.Unlock() }
func (r *recMetrics) ConnClosed(reason DisconnectReason, lifetime time.Duration) {
	r.mu.Lock()
	r.closed[reason]++
	r.lifetimes = append(r.lifetimes, lifetime)
	r.mu.Unlock()
}
func (r *recMetrics) HandshakeFailed(stage HandshakeStage, err error) {
	r.mu.Lock()
	r.handshakes[stage]++
	r.mu.Unlock()
}
func (r *recMetrics) ConnRefused(reason RefusalReason) {
	r.mu.Lock()
	r.refused[reason]++
	r.mu.Unlock()
}
func (r *recMetrics) MsgDropped(reason DropReason) { r.mu.Lock(); r.dropped[reason]++; r.mu.Unlock() }
func (r *recMetrics) BytesIn(n int)                { r.mu.Lock(); r.bytesIn += n; r.mu.Unlock() }
func (r *recMetrics) BytesOut(n int)               { r.mu.Lock(); r.bytesOut += n; r.mu.Unlock() }

// read runs f on the recorded values, under the lock.
func (r *recMetrics) read(f func(r *recMetrics)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// waitRec waits until cond holds on r's recorded values.
func waitRec(t testing.TB, r *recMetrics, what string, cond func(r *recMetrics) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		var ok bool
		r.read(func(r *recMetrics) { ok = cond(r) })
		return ok
	})
}

func withMetrics(m Metrics, more ...func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Metrics = m
		for _, f := range more {
			f(c)
		}
	}
}

func TestMetricsConnectionLifecycle(t *testing.T) {
	n := newNetwork("mem")
	ra, rb := newRecMetrics(), newRecMetrics()
	a, b := newNode(t, n, withMetrics(ra)), newNode(t, n, withMetrics(rb))
	ca, cb := connect(t, a, b)
	ctx := ctxT(t)
	for _, m := range []text{"one", "two", "three"} {
		require.NoError(t, ca.Write(ctx, m))
	}
	assert.Equal(t, []text{"one", "two", "three"}, readN(t, cb, 3))
	time.Sleep(time.Millisecond) // a measurable lifetime
	require.NoError(t, ca.Disconnect(ctx, true))
	waitDone(t, cb)

	ra.read(func(r *recMetrics) {
		assert.Equal(t, map[bool]int{false: 1}, r.opened)
		assert.Equal(t, map[DisconnectReason]int{ReasonLocal: 1}, r.closed)
		require.Len(t, r.lifetimes, 1)
		assert.Positive(t, r.lifetimes[0])
		assert.Equal(t, int(ca.Stat().BytesSent), r.bytesOut)
		assert.Positive(t, r.bytesOut)
		assert.Empty(t, r.handshakes)
		assert.Empty(t, r.refused)
		assert.Empty(t, r.dropped)
	})
	rb.read(func(r *recMetrics) {
		assert.Equal(t, map[bool]int{true: 1}, r.opened)
		assert.Equal(t, map[DisconnectReason]int{ReasonRemoteClosed: 1}, r.closed)
		assert.Equal(t, int(cb.Stat().BytesRecv), r.bytesIn)
		assert.Positive(t, r.bytesIn)
	})
}

func TestMetricsRefusals(t *testing.T) {
	t.Run("unknown chain name", func(t *testing.T) {
		n := newNetwork("mem")
		other := textMessages()
		other.ChainName = "OTHER_CHAIN"
		ra, rb := newRecMetrics(), newRecMetrics()
		a := newNode(t, n, withMetrics(ra, patient))
		b := newMsgNode(t, n, other, withMetrics(rb, patient))
		require.ErrorIs(t, connectQuickly(t, a, b.point), ErrNoCommonVersion)
		// The acceptor refuses at the ack stage; the dialler's handshake
		// fails there too, and it refuses nothing.
		waitRec(t, rb, "b's refusal", func(r *recMetrics) bool { return r.refused[RefusedNoCommonVersion] == 1 })
		rb.read(func(r *recMetrics) {
			assert.Equal(t, map[HandshakeStage]int{StageAck: 1}, r.handshakes)
			assert.Equal(t, map[RefusalReason]int{RefusedNoCommonVersion: 1}, r.refused)
			assert.Empty(t, r.opened)
		})
		ra.read(func(r *recMetrics) {
			assert.Equal(t, map[HandshakeStage]int{StageAck: 1}, r.handshakes)
			assert.Empty(t, r.refused)
			assert.Empty(t, r.opened)
		})
	})
	t.Run("too many incoming", func(t *testing.T) {
		// Refused before any handshake: a refusal, no handshake failure.
		// On loopback, exempt from eviction, as in octez.
		n := newNetwork("tcp")
		rb := newRecMetrics()
		b := newNode(t, n, withMetrics(rb, func(c *Config) { c.Admission.MaxIncomingConnections = 1 }))
		dialSilent(t, n, b) // holds b's only incoming slot
		waitFor(t, "the silent handshake", func() bool { return b.Stats().Connections.IncomingHandshakes == 1 })
		_, err := newNode(t, n, nil).Connect(ctxT(t), b.point)
		require.Error(t, err)
		waitRec(t, rb, "b's refusal", func(r *recMetrics) bool { return r.refused[RefusedTooManyIncoming] == 1 })
		rb.read(func(r *recMetrics) { assert.Empty(t, r.handshakes) })
	})
}

func TestMetricsDropQueueFull(t *testing.T) {
	n := newNetwork("mem")
	ra := newRecMetrics()
	a := newNode(t, n, withMetrics(ra, func(c *Config) { c.Limits.OutgoingMessageQueueSize = smallQueue }))
	b := newNode(t, n, holdsOne)
	ca, cb := connect(t, a, b)
	sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))
	requireFull(t, ca)
	require.ErrorIs(t, ca.WriteNow("dropped"), ErrQueueFull)
	ra.read(func(r *recMetrics) { assert.Equal(t, map[DropReason]int{DropQueueFull: 1}, r.dropped) })
	got, _ := drainAndEnd(t, ca, cb)
	assert.Equal(t, sent, got)
}

func TestNopMetricsIsTheDefault(t *testing.T) {
	n := newNetwork("mem")
	a := newNode(t, n, nil)
	assert.Equal(t, Metrics(NopMetrics{}), a.Config().Metrics)
	assert.Equal(t, "queue full", DropQueueFull.String())
}
