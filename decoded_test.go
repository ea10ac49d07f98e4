package p2ppool

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inflating is the text encoding declaring that a body of n bytes may
// decode to 16n bytes (as a list of empty items might).
func inflating() MessageConfig[text] {
	e := textEncoding()
	e.DecodedSize = func(n int) int { return 16 * n }
	return MessageConfig[text]{Encodings: []Encoding[text]{e}, ChainName: "P2PPOOL_TEST"}
}

// TestDecodedSizeIsCharged: the incoming budgets count a message as what
// its Encoding says it may decode to when that is more than its wire
// size, both for messages that arrive whole (reserved as they are
// queued) and for messages that span chunks (reserved from their size
// and tag, before their body is read and decoded).
func TestDecodedSizeIsCharged(t *testing.T) {
	t.Run("arrived whole", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			nd := newMsgNode(t, n, inflating(), func(c *Config) {
				c.Limits.IncomingAppMessageQueueSize = 100
				c.Limits.IncomingMessageQueueSize = 64 << 10
			})
			rp, c := dialRaw(t, n, nd)
			body := dataenc.AppendString(nil, string(make([]byte, 1020))) // 1 KiB
			var sent sync.WaitGroup
			sent.Go(func() {
				for range 20 {
					if rp.sc.WriteMessages(appMsg(0x1000, body)) != nil {
						return
					}
				}
			})
			synctest.Wait()
			// 16 KiB each: four fill the connection's 64 KiB, which 20 of
			// their wire size would not.
			s := nd.Stats()
			assert.Equal(t, 4, s.Queues.AppQueued)
			assert.Equal(t, 4*16*len(body), s.Queues.AppQueuedBytes)
			assert.Len(t, readN(t, c, 20), 20, "all arrive as the application reads")
			sent.Wait()
		})
	})
	t.Run("spanning chunks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			nd := newMsgNode(t, n, inflating(), func(c *Config) {
				c.Limits.IncomingMessageQueueSize = 1 << 20
				c.Budgets.TotalIncomingQueueSize = 4 << 20
			})
			rp, c := dialRaw(t, n, nd)
			body := dataenc.AppendString(nil, string(make([]byte, 200<<10-4))) // 200 KiB: 3.2 MiB decoded
			var sent sync.WaitGroup
			sent.Go(func() {
				for range 3 {
					if rp.sc.WriteMessages(appMsg(0x1000, body)) != nil {
						return
					}
				}
			})
			synctest.Wait()
			// One message, over the connection's bound, fits the empty
			// queue; the next waits for it before its body is read.
			s := nd.Stats()
			assert.Equal(t, 1, s.Queues.AppQueued)
			assert.Equal(t, 16*len(body), s.Queues.AppQueuedBytes)
			assert.Equal(t, int64(16*len(body)-64<<10), s.Queues.IncomingBudgetHeld, "beyond the connection's own 64 KiB")
			assert.Len(t, readN(t, c, 3), 3)
			sent.Wait()
			synctest.Wait()
			assert.Zero(t, nd.Stats().Queues.IncomingBudgetHeld)
		})
	})
}

// TestSlowReaderFloodHeap: 100 scripted peers send 1 MiB messages to an
// application that never reads. The heap the flood adds stays within 1.3
// times the documented bound (Config.Budgets.TotalIncomingQueueSize): the budget,
// plus on each connection its own 64 KiB and its reader's two chunk
// buffers (64 KiB each), plus what the scripted senders hold in this
// process, which a real attacker holds in its own: each its sealed piece
// (the buffer pool rounds it to 128 KiB) and the in-memory network's
// 64 KiB buffer, which the kernel would hold. Measured: 48 MiB, 19 of
// them the senders': the pool's share is 0.85 times its bound of 35 MiB.
func TestSlowReaderFloodHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("100 connections")
	}
	const (
		peers   = 100
		maxBody = 1 << 20
		budget  = 16 << 20
	)
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		nd := newNode(t, n, func(c *Config) {
			c.Limits.MaxConnections, c.Limits.ExpectedConnections = peers+10, peers
			c.Admission.MaxIncomingConnections = peers
			c.Budgets.MaxMessageSize = maxBody
			c.Budgets.TotalIncomingQueueSize = budget
			c.Limits.IncomingMessageQueueSize = 4 << 20
		})
		msg := appMsg(0x1000, dataenc.AppendString(nil, string(make([]byte, maxBody-4))))
		var rps []*rawPeer
		for range peers {
			rp, _ := dialRaw(t, n, nd)
			rps = append(rps, rp)
		}
		synctest.Wait()
		before := heapInUse()
		var sending sync.WaitGroup
		for _, rp := range rps {
			sending.Go(func() {
				for range 8 {
					for off := 0; off < len(msg); off += 64 << 10 {
						if rp.sc.WriteStream(msg[off:min(len(msg), off+64<<10)]) != nil {
							return
						}
					}
				}
			})
		}
		synctest.Wait() // every reader waits for room, every sender for its reader
		s := nd.Stats()
		growth := heapInUse() - before
		bound := float64(budget + peers*(freeAllowance+2*readerChunk))
		senders := float64(peers * (128<<10 + 64<<10))
		t.Logf("holding %d messages, %d bytes (budget %d held); heap grew by %.1f MiB: the pool's share at most %.2fx its bound of %.1f MiB",
			s.Queues.AppQueued, s.Queues.AppQueuedBytes, s.Queues.IncomingBudgetHeld, float64(growth)/(1<<20), (float64(growth)-senders)/bound, bound/(1<<20))
		assert.LessOrEqual(t, s.Queues.IncomingBudgetHeld, int64(budget))
		assert.LessOrEqual(t, float64(growth), 1.3*bound+senders)
		require.NoError(t, nd.Close())
		sending.Wait()
	})
}

// readerChunk is the most a connection's reader buffers of one chunk,
// sealed or open (octez's 64 KiB chunks).
const readerChunk = 64 << 10
