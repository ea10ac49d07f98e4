package p2ppool

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of a connection's read and write variants and of the pool's
// broadcasts, over both test networks. The queue-full cases use the
// stalled-writer set-up of helpers_test.go.

func TestReadAndWaitReadable(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ca, cb := connect(t, a, b)
			ctx := ctxT(t)

			// Nothing queued: both wait, here for a context already done.
			done, cancel := context.WithCancel(ctx)
			cancel()
			require.ErrorIs(t, cb.WaitReadable(done), context.Canceled)
			_, err := cb.Read(done)
			require.ErrorIs(t, err, context.Canceled)

			require.NoError(t, ca.Write(ctx, "a"))
			require.NoError(t, ca.Write(ctx, "b"))
			require.NoError(t, cb.WaitReadable(ctx))
			require.NoError(t, cb.WaitReadable(ctx), "WaitReadable must not consume")
			assert.Equal(t, []text{"a", "b"}, readN(t, cb, 2), "in order, none lost to WaitReadable")

			// What arrived before the connection ended is still read, then
			// both calls return the *DisconnectError.
			require.NoError(t, ca.Write(ctx, "c"))
			require.NoError(t, ca.Disconnect(ctx, true))
			waitDone(t, cb)
			require.NoError(t, cb.WaitReadable(ctx))
			m, err := cb.Read(ctx)
			require.NoError(t, err)
			assert.Equal(t, "c", m)
			werr := cb.WaitReadable(ctx)
			de := disconnectError(t, werr)
			assert.Equal(t, ReasonRemoteClosed, de.Reason)
			assert.True(t, de.Remote)
			_, rerr := cb.Read(ctx)
			assert.Same(t, de, disconnectError(t, rerr))
			assert.Same(t, de, disconnectError(t, cb.Err()))
		})
	}
}

func TestWriteBlocksWhileQueueFull(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b, ca, cb := stalledPair(t, n)
			sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))
			requireFull(t, ca)

			ctx := ctxT(t)
			next := bigMsg(len(sent))
			blocked := make(chan error, 1)
			go func() { blocked <- ca.Write(ctx, next) }()
			notYet(t, blocked, "Write on a full queue")

			// The receiver reading makes room: the blocked Write goes through
			// and nothing is lost or reordered.
			assert.Equal(t, sent, readN(t, cb, len(sent)))
			require.NoError(t, recvErr(t, blocked, "Write"))
			assert.Equal(t, []text{next}, readN(t, cb, 1))
			assert.Zero(t, ca.Stat().Dropped)
			assert.Zero(t, a.Stats().Queues.Dropped)
			assert.Zero(t, b.Stats().Queues.Dropped)
		})
	}
}

func TestWriteNowDropsWhenQueueFull(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, _, ca, cb := stalledPair(t, n)
			sent := stallWriter(t, ca, poolHolds)

			// The writer is stuck with the queue empty: smallQueue (4096)
			// bytes take four messages of 1010 encoded bytes (size, tag,
			// string length, 1000 bytes), copied into one 4096-byte arena
			// that counts whole, not five; a smaller message would still
			// fit in it.
			for i := range 4 {
				m := numbered(i, 1000)
				require.NoError(t, ca.WriteNow(m))
				sent = append(sent, m)
			}
			assert.Equal(t, 4096, a.Stats().Queues.OutQueuedBytes, "the arena's memory")
			require.ErrorIs(t, ca.WriteNow(numbered(4, 1000)), ErrQueueFull)
			assert.Equal(t, uint64(1), ca.Stat().Dropped)
			assert.Equal(t, uint64(1), a.Stats().Queues.Dropped)
			require.ErrorIs(t, ca.WriteNow(numbered(5, 1000)), ErrQueueFull)
			assert.Equal(t, uint64(2), ca.Stat().Dropped)
			assert.Equal(t, uint64(2), a.Stats().Queues.Dropped)

			// The receiver gets everything queued, in order, and not the
			// dropped messages.
			got, de := drainAndEnd(t, ca, cb)
			assert.Equal(t, sent, got)
			assert.Equal(t, ReasonRemoteClosed, de.Reason)

			// On an ended connection WriteNow fails with why it ended, and
			// that is not a drop.
			de = disconnectError(t, ca.WriteNow("late"))
			assert.Equal(t, ReasonLocal, de.Reason)
			assert.False(t, de.Remote)
			assert.Equal(t, uint64(2), ca.Stat().Dropped)
		})
	}
}

func TestWriteSyncReturnsAfterTheWrite(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ca, cb := connect(t, a, b)
			ctx := ctxT(t)
			require.NoError(t, ca.WriteSync(ctx, "x"))
			// Counted as sent before WriteSync returned: size 4, tag 2,
			// string length 4, one byte.
			st := ca.Stat()
			st.Flow = FlowStat{}
			assert.Equal(t, ConnStat{MsgsSent: 1, BytesSent: 11}, st)
			assert.Equal(t, []text{"x"}, readN(t, cb, 1))
		})
	}
}

// queueEpoch returns how many batches the writer of c has taken: a new
// value means it took something.
func queueEpoch(c *testConn) uint64 {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.batches
}

func TestWriteSyncFailsWhenConnectionEnds(t *testing.T) {
	// Each case starts a WriteSync on the sender of a stalled pair and
	// returns once its message is where the case says; then the sender
	// disconnects without waiting, and WriteSync must return why.
	cases := []struct {
		name  string
		start func(t *testing.T, ca *testConn, res chan<- error)
	}{
		{"message being written", func(t *testing.T, ca *testConn, res chan<- error) {
			ctx := ctxT(t)
			for i := range poolHolds {
				require.NoError(t, ca.Write(ctx, bigMsg(i)))
			}
			waitFor(t, "the peer to take in the first messages", func() bool {
				n, _ := ca.out.len()
				return ca.Stat().MsgsSent == poolHolds && n == 0
			})
			// The writer is idle; the next take is our message, which it
			// can never write whole.
			epoch := queueEpoch(ca)
			go func() { res <- ca.WriteSync(ctx, bigMsg(poolHolds)) }()
			waitFor(t, "the writer to take the message", func() bool { return queueEpoch(ca) != epoch })
		}},
		{"message queued", func(t *testing.T, ca *testConn, res chan<- error) {
			ctx := ctxT(t)
			stallWriter(t, ca, poolHolds)
			go func() { res <- ca.WriteSync(ctx, "queued") }()
			waitFor(t, "the message to be queued", func() bool { n, _ := ca.out.len(); return n == 1 })
		}},
		{"waiting for room", func(t *testing.T, ca *testConn, res chan<- error) {
			ctx := ctxT(t)
			fillQueue(t, ca, stallWriter(t, ca, poolHolds))
			go func() { res <- ca.WriteSync(ctx, "waiting") }()
		}},
	}
	for _, name := range networks {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				n := newNetwork(name)
				_, _, ca, _ := stalledPair(t, n)
				res := make(chan error, 1)
				tc.start(t, ca, res)
				notYet(t, res, "WriteSync to a stalled peer")
				require.NoError(t, ca.Disconnect(ctxT(t), false))
				de := disconnectError(t, recvErr(t, res, "WriteSync"))
				assert.Equal(t, ReasonLocal, de.Reason)
				assert.Same(t, de, disconnectError(t, ca.Err()))
			})
		}
	}
}

func TestBlockingCallsHonourContext(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, _, ca, cb := stalledPair(t, n)
			sent := fillQueue(t, ca, stallWriter(t, ca, poolHolds))
			// Each call blocks on ca (nothing comes from b; the queue is
			// full; the drain cannot finish) until its context is
			// cancelled. Disconnect comes last: the drain it starts goes on.
			cases := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"Read", func(ctx context.Context) error { _, err := ca.Read(ctx); return err }},
				{"WaitReadable", ca.WaitReadable},
				{"Write", func(ctx context.Context) error { return ca.Write(ctx, "w") }},
				{"WriteSync", func(ctx context.Context) error { return ca.WriteSync(ctx, "ws") }},
				{"Disconnect wait", func(ctx context.Context) error { return ca.Disconnect(ctx, true) }},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					res := make(chan error, 1)
					go func() { res <- tc.call(ctx) }()
					notYet(t, res, tc.name)
					cancel()
					require.ErrorIs(t, recvErr(t, res, tc.name), context.Canceled)
				})
			}
			// The cancelled writes queued nothing and dropped nothing; the
			// drain delivers what was queued before.
			got, de := readAll(t, cb)
			assert.Equal(t, sent, got)
			assert.Equal(t, ReasonRemoteClosed, de.Reason)
			assert.Zero(t, a.Stats().Queues.Dropped)
		})
	}
}

func TestFullAppQueueStopsTheReader(t *testing.T) {
	const total = 8
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b, ca, cb := stalledPair(t, n)
			ctx := ctxT(t)
			var written atomic.Int32
			res := make(chan error, 1)
			go func() {
				for i := range total {
					if err := ca.Write(ctx, bigMsg(i)); err != nil {
						res <- err
						return
					}
					written.Add(1)
				}
				res <- nil
			}()

			// b's reader takes in poolHolds messages and stops reading the
			// socket; a's writer is stuck on the next one, one more fills
			// a's queue, and the Write after it blocks. Nothing is dropped.
			// (The reader counts a message before it queues it: wait for
			// both.)
			waitFor(t, "the sender to stall", func() bool {
				return written.Load() == poolHolds+2 && cb.Stat().MsgsRecv == poolHolds && b.Stats().Queues.AppQueued == 1
			})
			requireFull(t, ca)
			notYet(t, res, "Writes to a peer that does not read")
			assert.Equal(t, 1, b.Stats().Queues.AppQueued)

			// Once b reads, everything arrives, in order.
			want := make([]text, total)
			for i := range want {
				want[i] = bigMsg(i)
			}
			assert.Equal(t, want, readN(t, cb, total))
			require.NoError(t, recvErr(t, res, "the Writes"))
			assert.Zero(t, a.Stats().Queues.Dropped)
			assert.Zero(t, b.Stats().Queues.Dropped)
		})
	}
}

func TestWriteAllSkipsStalledPeer(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a := newNode(t, n, func(c *Config) { c.Limits.OutgoingMessageQueueSize = smallQueue })
			b := newNode(t, n, holdsOne)
			c := newNode(t, n, nil)
			ab, ba := connect(t, a, b)
			ac, ca := connect(t, a, c)
			sent := fillQueue(t, ab, stallWriter(t, ab, poolHolds))

			// WriteAll does not wait for b: it skips it, counting the drop,
			// and still delivers to c.
			got, err := a.WriteAll("hello")
			require.NoError(t, err)
			assert.Equal(t, 1, got)
			assert.Equal(t, uint64(1), a.Stats().Queues.Dropped)
			assert.Equal(t, uint64(1), ab.Stat().Dropped)
			assert.Zero(t, ac.Stat().Dropped)
			assert.Equal(t, []text{"hello"}, readN(t, ca, 1))

			msgs, _ := drainAndEnd(t, ab, ba)
			assert.Equal(t, sent, msgs, "b gets what was queued, not the skipped broadcast")

			// With b gone, the next broadcast reaches c alone, undropped.
			got, err = a.WriteAll("again")
			require.NoError(t, err)
			assert.Equal(t, 1, got)
			assert.Equal(t, uint64(1), a.Stats().Queues.Dropped)
			assert.Equal(t, []text{"again"}, readN(t, ca, 1))
		})
	}
}

func TestBroadcastBootstrapLearnsAdvertisedPoints(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b, c := newNode(t, n, nil), newNode(t, n, nil), newNode(t, n, nil)
			connect(t, a, b)
			connect(t, b, c) // b dialled c: c's point is public to b
			require.False(t, knows(a.testPool, c.point))

			a.BroadcastBootstrap()
			waitFor(t, "a to learn c's point from b's Advertise", func() bool { return knows(a.testPool, c.point) })
			for pt, pi := range a.Points().All() {
				if pt == c.point {
					assert.Equal(t, PointDisconnected, pi.State)
					assert.False(t, pi.Trusted)
				}
			}
		})
	}
}

// pickyMessages has one encoding that refuses messages starting with "!"
// and bodies over 64 bytes.
func pickyMessages() MessageConfig[text] {
	enc := StringEncoding(0x1000, "picky", 64, func(s string) text { return s },
		func(m text) (string, bool) { return m, !strings.HasPrefix(m, "!") })
	return MessageConfig[text]{Encodings: []Encoding[text]{enc}, ChainName: "P2PPOOL_TEST"}
}

func TestWritesRefuseUnencodableMessages(t *testing.T) {
	n := newNetwork("mem")
	a := newMsgNode(t, n, pickyMessages(), nil)
	b := newMsgNode(t, n, pickyMessages(), nil)
	ca, cb := connect(t, a, b)
	ctx := ctxT(t)
	writes := []struct {
		name  string
		write func(text) error
	}{
		{"Write", func(m text) error { return ca.Write(ctx, m) }},
		{"WriteNow", ca.WriteNow},
		{"WriteSync", func(m text) error { return ca.WriteSync(ctx, m) }},
		{"WriteAll", func(m text) error { _, err := a.WriteAll(m); return err }},
	}
	msgs := []struct {
		name string
		msg  text
		want error
	}{
		{"no encoding", "!nope", ErrNoEncoding},
		{"too large", strings.Repeat("x", 61), ErrMessageTooLarge}, // 4-byte length + 61 > 64
	}
	for _, w := range writes {
		for _, m := range msgs {
			t.Run(w.name+"/"+m.name, func(t *testing.T) {
				require.ErrorIs(t, w.write(m.msg), m.want)
			})
		}
	}
	// Nothing was queued, sent or counted as dropped, and the connection
	// still works; a body of exactly 64 bytes is fine.
	st := ca.Stat()
	st.Flow = FlowStat{} // the handshake's bytes
	assert.Zero(t, st)
	require.NoError(t, ca.Write(ctx, strings.Repeat("x", 60)))
	assert.Equal(t, []text{strings.Repeat("x", 60)}, readN(t, cb, 1))
}

// TestDisconnectWaitWithoutWriter ends, with wait, a connection whose
// writer has exited (nothing queued): no writer is left to finish the
// drain, so Disconnect must close the connection itself and the peer see
// it closed.
func TestDisconnectWaitWithoutWriter(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			a, b := newNode(t, n, nil), newNode(t, n, nil)
			ca, cb := connect(t, a, b)
			ctx := ctxT(t)
			require.NoError(t, ca.Write(ctx, "a"))
			assert.Equal(t, []text{"a"}, readN(t, cb, 1))
			waitFor(t, "the writer to exit", func() bool {
				ca.out.mu.Lock()
				defer ca.out.mu.Unlock()
				return !ca.out.running
			})
			require.NoError(t, ca.Disconnect(ctx, true))
			waitDone(t, cb)
			de := disconnectError(t, cb.Err())
			assert.Equal(t, ReasonRemoteClosed, de.Reason)
		})
	}
}
