package p2ppool

import (
	"context"
	"testing"
)

// BenchmarkOutQueue is the outgoing queue alone, without the network:
// messages pushed as Write pushes them (small ones copied into arenas,
// large ones queued as they are), taken and released as the writer does,
// a batch every 64 messages; with the pool's outgoing budget charged
// past the connection's floor.
func BenchmarkOutQueue(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"100B", 100}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(c.name, func(b *testing.B) {
			q := newOutQueue(DefaultOutgoingMessageQueueSize, newOutBudget(DefaultTotalOutgoingQueueSize), nil, nil)
			ctx := context.Background()
			msg := make([]byte, c.size)
			var batch []outItem
			b.SetBytes(int64(c.size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				if c.size <= smallMessage {
					err = q.pushCopy(ctx, msg, true)
				} else {
					err = q.push(ctx, outItem{b: msg}, true)
				}
				if err != nil {
					b.Fatal(err)
				}
				if i%64 == 63 {
					batch, _ = q.take(batch[:0], 1<<30)
					q.releaseItems(batch, nil)
				}
			}
		})
	}
}
