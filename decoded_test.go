package p2ppool

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"

	"github.com/p2ppool/p2ppool/internal/wire"
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
				c.IncomingAppMessageQueueSize = 100
				c.IncomingMessageQueueSize = 64 << 10
			})
			rp, c := dialRaw(t, n, nd)
			body := wire.AppendString(nil, string(make([]byte, 1020))) // 1 KiB
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
			assert.Equal(t, 4, s.AppQueued)
			assert.Equal(t, 4*16*len(body), s.AppQueuedBytes)
			assert.Len(t, readN(t, c, 20), 20, "all arrive as the application reads")
			sent.Wait()
		})
	})
	t.Run("spanning chunks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			nd := newMsgNode(t, n, inflating(), func(c *Config) {
				c.IncomingMessageQueueSize = 1 << 20
				c.TotalIncomingQueueSize = 4 << 20
			})
			rp, c := dialRaw(t, n, nd)
			body := wire.AppendString(nil, string(make([]byte, 200<<10-4))) // 200 KiB: 3.2 MiB decoded
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
			assert.Equal(t, 1, s.AppQueued)
			assert.Equal(t, 16*len(body), s.AppQueuedBytes)
			assert.Equal(t, int64(16*len(body)-64<<10), s.IncomingBudgetHeld, "beyond the connection's own 64 KiB")
			assert.Len(t, readN(t, c, 3), 3)
			sent.Wait()
			synctest.Wait()
			assert.Zero(t, nd.Stats().IncomingBudgetHeld)
		})
	})
}
