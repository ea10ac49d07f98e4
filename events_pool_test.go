package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the pool's events (spec §6) as watchers see them: which events
// one connection raises and in which order, that each is published after
// the table change it reports, that a watcher that does not keep up loses
// events without slowing the pool, and that Close closes watchers.

// disconnectReason returns the reason in an EventDisconnection.
func disconnectReason(t testing.TB, e Event) *DisconnectError {
	t.Helper()
	require.Equal(t, EventDisconnection, e.Kind)
	var de *DisconnectError
	require.ErrorAs(t, e.Err, &de)
	return de
}

func TestEventsOfOneConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a, b := newNodeFrom(t, n, srcA, nil), newNode(t, n, nil)
		peerA, peerB := a.Config().Identity.PeerID, b.Config().Identity.PeerID
		// b knows a by its address and announced port.
		idA := netip.AddrPortFrom(srcA, a.point.Port())
		wa, wb := a.Watch(context.Background(), 0), b.Watch(context.Background(), 0)
		defer wa.Close()
		defer wb.Close()
		now := time.Now()

		ab, _ := connectSettled(t, a, b)
		require.NoError(t, ab.Disconnect(context.Background(), false))
		synctest.Wait()

		// The dialler: the point is registered before the dial, the
		// peer once identified.
		ea := drainEvents(t, wa)
		require.Equal(t, kinds(EventNewPoint, EventOutgoingConnection, EventNewPeer, EventAcceptingRequest,
			EventConnectionEstablished, EventDisconnection), eventKinds(ea))
		assert.Equal(t, b.point, ea[0].Point)
		assert.Equal(t, b.point, ea[1].Point)
		assert.Equal(t, peerB, ea[2].Peer)
		assert.Equal(t, Event{Kind: EventAcceptingRequest, Time: ea[3].Time, Point: b.point, IDPoint: b.point, Peer: peerB}, ea[3])
		assert.Equal(t, Event{Kind: EventConnectionEstablished, Time: ea[4].Time, IDPoint: b.point, Peer: peerB}, ea[4])
		assert.Equal(t, peerB, ea[5].Peer)
		assert.Equal(t, b.point, ea[5].IDPoint)
		assert.Equal(t, &DisconnectError{Reason: ReasonLocal}, disconnectReason(t, ea[5]))

		// The accepting side: the socket's address first, then the
		// point the peer announced.
		eb := drainEvents(t, wb)
		require.Equal(t, kinds(EventIncomingConnection, EventNewPoint, EventNewPeer, EventAcceptingRequest,
			EventConnectionEstablished, EventDisconnection), eventKinds(eb))
		socketPoint := eb[0].Point
		assert.Equal(t, srcA, socketPoint.Addr())
		assert.Equal(t, idA, eb[1].Point)
		assert.Equal(t, peerA, eb[2].Peer)
		assert.Equal(t, Event{Kind: EventAcceptingRequest, Time: eb[3].Time, Point: socketPoint, IDPoint: idA, Peer: peerA}, eb[3])
		assert.Equal(t, Event{Kind: EventConnectionEstablished, Time: eb[4].Time, IDPoint: idA, Peer: peerA}, eb[4])
		assert.Equal(t, idA, eb[5].IDPoint)
		de := disconnectReason(t, eb[5])
		assert.Equal(t, ReasonRemoteClosed, de.Reason)
		assert.True(t, de.Remote)
		for _, e := range append(ea, eb...) {
			assert.Equal(t, now.Round(0), e.Time.Round(0), "%v", e)
		}

		// Once point and peer are known, no New* events.
		ab, _ = connectSettled(t, a, b)
		require.NoError(t, ab.Disconnect(context.Background(), false))
		synctest.Wait()
		assert.Equal(t, kinds(EventOutgoingConnection, EventAcceptingRequest, EventConnectionEstablished, EventDisconnection),
			eventKinds(drainEvents(t, wa)))
		assert.Equal(t, kinds(EventIncomingConnection, EventAcceptingRequest, EventConnectionEstablished, EventDisconnection),
			eventKinds(drainEvents(t, wb)))
	})
}

// tableChecker watches a pool and checks, as each event arrives, that the
// tables already show the change it reports.
type tableChecker struct {
	mu       sync.Mutex
	problems []string
	seen     map[EventKind]int
	done     chan struct{}
}

func checkTables(p *node) (*tableChecker, *Watcher) {
	w := p.Watch(context.Background(), 0)
	tc := &tableChecker{seen: make(map[EventKind]int), done: make(chan struct{})}
	go func() {
		defer close(tc.done)
		for {
			e, err := w.Next(context.Background())
			if err != nil {
				return
			}
			var problem string
			switch e.Kind {
			case EventNewPoint:
				if _, ok := p.Points().Info(e.Point); !ok {
					problem = "point unknown"
				}
			case EventNewPeer:
				if _, ok := p.Peers().Info(e.Peer); !ok {
					problem = "peer unknown"
				}
			case EventConnectionEstablished:
				c, ok := p.Conns().ByPeer(e.Peer)
				pe, _ := p.Peers().Info(e.Peer)
				pi, _ := p.Points().Info(e.IDPoint)
				switch {
				case !ok || !slices.Contains(p.Conns().All(), c):
					problem = "not in Connections"
				case pe.State != PeerRunning:
					problem = "peer " + pe.State.String()
				case pi.State != PointRunning:
					problem = "point " + pi.State.String()
				}
			case EventDisconnection:
				_, ok := p.Conns().ByPeer(e.Peer)
				pe, _ := p.Peers().Info(e.Peer)
				pi, _ := p.Points().Info(e.IDPoint)
				switch {
				case ok:
					problem = "still in Connections"
				case pe.State != PeerDisconnected:
					problem = "peer " + pe.State.String()
				case pi.State != PointDisconnected:
					problem = "point " + pi.State.String()
				}
			}
			tc.mu.Lock()
			tc.seen[e.Kind]++
			if problem != "" {
				tc.problems = append(tc.problems, fmt.Sprintf("%v: %s", e, problem))
			}
			tc.mu.Unlock()
		}
	}()
	return tc, w
}

func TestEventsPublishedAfterTableChanges(t *testing.T) {
	// Each step lets the watchers catch up before the next changes the
	// tables again, so what they find is what the event reported.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a, b := newNodeFrom(t, n, srcA, nil), newNodeFrom(t, n, srcB, nil)
		ca, wa := checkTables(a)
		cb, wb := checkTables(b)
		const cycles = 10
		for i := range cycles {
			from, to := a, b
			if i%2 == 1 {
				from, to = b, a
			}
			c, _ := connectSettled(t, from, to)
			require.NoError(t, c.Disconnect(context.Background(), false))
			synctest.Wait()
		}
		wa.Close()
		wb.Close()
		<-ca.done
		<-cb.done
		for _, tc := range []*tableChecker{ca, cb} {
			assert.Empty(t, tc.problems)
			assert.Equal(t, cycles, tc.seen[EventConnectionEstablished])
			assert.Equal(t, cycles, tc.seen[EventDisconnection])
			assert.Equal(t, 2, tc.seen[EventNewPoint], "the peer's point, dialled and announced")
			assert.Equal(t, 1, tc.seen[EventNewPeer])
		}
	})
}

func TestSlowWatcherDoesNotSlowThePool(t *testing.T) {
	// A watcher that never reads, with room for 4 events, while 200
	// connections come and go and 2000 Bootstraps are broadcast: the load
	// runs without the clock moving (nothing waited for a timeout), a
	// watcher that keeps up sees everything, the slow one is told how
	// much it missed.
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		// b answers every Bootstrap and a takes every Advertise: the load
		// is a's events, not the control budgets (control_test.go); a
		// dials 201 times in a row: no dial rate, or the load would wait
		// for the limiter's tokens.
		a := newNode(t, n, func(c *Config) { c.Control.Advertise = Unlimited; c.Dial.Rate = Unlimited })
		b := newNode(t, n, func(c *Config) { c.Control.Bootstrap = Unlimited })
		slow := a.Watch(context.Background(), 4)
		fast := a.Watch(context.Background(), 1<<15)
		var seen []Event
		read := make(chan struct{})
		go func() {
			defer close(read)
			for {
				e, err := fast.Next(context.Background())
				if err != nil {
					return
				}
				seen = append(seen, e)
			}
		}()
		start := time.Now()
		const conns, bootstraps = 200, 2000
		for range conns {
			c, _ := connectSettled(t, a, b)
			require.NoError(t, c.Disconnect(context.Background(), false))
			synctest.Wait()
		}
		connectSettled(t, a, b)
		for range bootstraps {
			a.BroadcastBootstrap()
		}
		synctest.Wait()
		assert.Equal(t, start.Round(0), time.Now().Round(0), "the load waited for a timer")

		fast.Close()
		<-read
		assert.Zero(t, fast.Missed())
		count := make(map[EventKind]int)
		for _, e := range seen {
			count[e.Kind]++
		}
		assert.Equal(t, conns+1, count[EventConnectionEstablished])
		assert.Equal(t, conns, count[EventDisconnection])
		assert.Equal(t, bootstraps, count[EventBootstrapSent])
		assert.Positive(t, count[EventAdvertiseReceived], "b answered some Bootstraps")
		assert.Zero(t, count[EventsDropped])

		// The slow watcher kept the first 4 events, then a marker for the
		// rest.
		got := drainEvents(t, slow)
		require.Len(t, got, 5)
		assert.Equal(t, seen[:4], got[:4])
		assert.Equal(t, EventsDropped, got[4].Kind)
		assert.Equal(t, uint64(len(seen)-4), got[4].Dropped)
		assert.Equal(t, uint64(len(seen)-4), slow.Missed())
		slow.Close()
	})
}

func TestCloseClosesWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a, b, c := newNode(t, n, nil), newNode(t, n, nil), newNode(t, n, nil)
		connectSettled(t, a, b)
		connectSettled(t, b, c)
		w := a.Watch(context.Background(), 0)
		next := make(chan error, 1)
		go func() { // a reader waiting when the pool closes
			e, err := w.Next(context.Background())
			if err == nil && e.Kind != EventDisconnection {
				err = fmt.Errorf("got %v", e)
			}
			next <- err
		}()
		synctest.Wait()
		require.NoError(t, a.Close())
		require.NoError(t, <-next)
		// Buffered events outlive the close, then Next says so.
		e, err := w.Next(context.Background())
		require.ErrorIs(t, err, ErrWatcherClosed, "%v", e)
		_, err = w.Next(context.Background())
		require.ErrorIs(t, err, ErrWatcherClosed)

		// A watcher of a closed pool starts closed.
		late := a.Watch(context.Background(), 0)
		_, err = late.Next(context.Background())
		require.ErrorIs(t, err, ErrWatcherClosed)

		// With buffered events: drained first.
		synctest.Wait()
		w2 := b.Watch(context.Background(), 0)
		b.Points().Register(nowhere(1))
		require.NoError(t, b.Close())
		e, err = w2.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, EventNewPoint, e.Kind)
		e, err = w2.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, ReasonPoolClosed, disconnectReason(t, e).Reason)
		_, err = w2.Next(context.Background())
		require.ErrorIs(t, err, ErrWatcherClosed)
	})
}

func TestWatchWithDoneContext(t *testing.T) {
	// A watcher whose context is already done is closed at once, from
	// another goroutine: Watch must neither crash nor race with it, nor
	// leave it subscribed.
	n := newNetwork("mem")
	a := newNode(t, n, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10000 {
		w := a.Watch(ctx, 1)
		_, err := w.Next(context.Background())
		require.True(t, errors.Is(err, ErrWatcherClosed), "Next: %v", err)
	}
	waitFor(t, "the watchers to unsubscribe", func() bool {
		a.events.mu.Lock()
		defer a.events.mu.Unlock()
		return len(a.events.watchers) == 0
	})
	// The pool's events still reach live watchers.
	w := a.Watch(context.Background(), 0)
	defer w.Close()
	a.Points().Register(nowhere(1))
	e, err := w.Next(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, EventNewPoint, e.Kind)
}

// EventBootstrapSent is published for a Bootstrap that was queued, and
// only then: one dropped on a full outgoing queue is counted in Dropped and
// not announced as sent. (It was published before the queueing, dropped
// or not.)
func TestEventBootstrapSentOnlyWhenQueued(t *testing.T) {
	n := newNetwork("mem")
	a, b, ca, _ := stalledPair(t, n)
	w := a.Watch(context.Background(), 0)
	defer w.Close()
	sent := func() int {
		k := 0
		for _, e := range drainEvents(t, w) {
			if e.Kind == EventBootstrapSent {
				assert.Equal(t, b.Config().Identity.PeerID, e.Peer)
				k++
			}
		}
		return k
	}

	a.BroadcastBootstrap()
	assert.Equal(t, 1, sent(), "queued: announced")

	fillQueue(t, ca, stallWriter(t, ca, poolHolds))
	requireFull(t, ca)
	dropped := a.Stats().Queues.Dropped
	a.BroadcastBootstrap()
	assert.Equal(t, dropped+1, a.Stats().Queues.Dropped, "the Bootstrap was dropped")
	assert.Zero(t, sent(), "dropped: not announced as sent")
}

// TestWait: Pool.Wait returns at the next occurrence of its condition
// after the call, as octez's P2p_trigger waits do (a broadcast, not a
// state: an occurrence before the call does not count), and only then:
// too few connections when a connection ends below MinConnections
// (p2p_connect_handler.ml:249-250), too many when one is established at
// MaxConnections (272-273), a new peer (p2p_pool.ml:233), a new point
// (p2p_pool.ml:157), a new connection (p2p_connect_handler.ml:232).
func TestWait(t *testing.T) {
	bounds := func(c *Config) {
		c.Limits.MinConnections, c.Limits.ExpectedConnections, c.Limits.MaxConnections = 1, 1, 1
	}
	cases := []struct {
		cond Condition
		// before makes an occurrence that must not count; trigger makes
		// the one Wait returns at. Both run with a's maintenance off.
		before, trigger func(t *testing.T, a, b *node)
	}{
		{CondNewPoint,
			func(_ *testing.T, a, _ *node) { a.Points().Register(nowhere(1)) },
			func(_ *testing.T, a, _ *node) { a.Points().Register(nowhere(2)) }},
		{CondNewPeer,
			func(_ *testing.T, a, _ *node) { a.Peers().SetMeta(PeerID{1}, struct{}{}) },
			func(_ *testing.T, a, _ *node) { a.Peers().SetMeta(PeerID{2}, struct{}{}) }},
		{CondNewConnection, nil,
			func(t *testing.T, a, b *node) { connectSettled(t, a, b) }},
		{CondTooManyConnections, nil,
			func(t *testing.T, a, b *node) { connectSettled(t, a, b) }},
		{CondTooFewConnections,
			func(t *testing.T, a, b *node) { connectSettled(t, a, b) },
			func(t *testing.T, a, b *node) {
				c, _ := a.Conns().ByPeer(b.Config().Identity.PeerID)
				require.NoError(t, c.Disconnect(context.Background(), false))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.cond.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				a, b := newNode(t, n, bounds), newNode(t, n, nil)
				if tc.before != nil {
					tc.before(t, a, b)
				}
				res := make(chan error, 1)
				go func() { res <- a.Wait(context.Background(), tc.cond) }()
				synctest.Wait()
				select {
				case err := <-res:
					t.Fatalf("Wait returned %v before its condition", err)
				default:
				}
				// Another condition's occurrence does not wake it.
				if tc.cond != CondNewPoint {
					a.Points().Register(nowhere(9))
				} else {
					a.Peers().SetMeta(PeerID{9}, struct{}{})
				}
				synctest.Wait()
				require.Empty(t, res, "woken by another condition")
				tc.trigger(t, a, b)
				synctest.Wait()
				select {
				case err := <-res:
					require.NoError(t, err)
				default:
					t.Fatal("Wait did not return at its condition")
				}
			})
		})
	}
}

// TestWaitEnds: Wait returns ctx's cause when ctx ends, ErrPoolClosed
// when the pool closes, and refuses an unknown condition; it leaves no
// goroutine behind (goleak in TestMain).
func TestWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		a := newNode(t, n, nil)
		require.Error(t, a.Wait(context.Background(), 0))
		require.Error(t, a.Wait(context.Background(), numConditions))

		errMine := errors.New("mine")
		ctx, cancel := context.WithCancelCause(context.Background())
		res := make(chan error, 2)
		go func() { res <- a.Wait(ctx, CondNewPeer) }()
		synctest.Wait()
		cancel(errMine)
		require.ErrorIs(t, <-res, errMine)

		tctx, tcancel := context.WithTimeout(context.Background(), time.Minute)
		defer tcancel()
		require.ErrorIs(t, a.Wait(tctx, CondNewConnection), context.DeadlineExceeded)

		go func() { res <- a.Wait(context.Background(), CondTooFewConnections) }()
		synctest.Wait()
		require.NoError(t, a.Close())
		require.ErrorIs(t, <-res, ErrPoolClosed)
		require.ErrorIs(t, a.Wait(context.Background(), CondNewPoint), ErrPoolClosed)
	})
}

// TestNext: the channel Next returns is closed at the next occurrence
// only, and by Close; after Close it is closed at once.
func TestNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newNode(t, newNetwork("mem"), nil)
		assert.Nil(t, a.Next(0), "an unknown condition is never ready")
		ch := a.Next(CondNewPoint)
		a.Peers().SetMeta(PeerID{1}, struct{}{})
		select {
		case <-ch:
			t.Fatal("closed by another condition")
		default:
		}
		a.Points().Register(nowhere(1))
		<-ch
		ch = a.Next(CondNewPoint)
		require.NoError(t, a.Close())
		<-ch
		<-a.Next(CondTooFewConnections)
	})
}
