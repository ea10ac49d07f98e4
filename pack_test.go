package p2ppool

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMixedSizesArriveInOrder: messages of mixed sizes, from empty to
// several chunks, written back to back (so the writer packs several into
// a chunk and cuts others across chunks) arrive whole and in order, on
// both networks and with each chunk size tried.
func TestMixedSizesArriveInOrder(t *testing.T) {
	for _, network := range networks {
		for _, chunk := range []int{0, 100} {
			t.Run(fmt.Sprintf("%s/chunk%d", network, chunk), func(t *testing.T) {
				n := newNetwork(network)
				a := newNode(t, n, func(c *Config) { c.Wire.BinaryChunksSize = chunk })
				b := newNode(t, n, nil)
				ab, ba := connect(t, a, b)
				rng := rand.New(rand.NewPCG(5, uint64(chunk)))
				var sent []text
				for i := range 300 {
					size := rng.IntN(300)
					if i%25 == 0 {
						size = rng.IntN(200 << 10)
					}
					sent = append(sent, fmt.Sprintf("%d:%s", i, strings.Repeat("y", size)))
				}
				ctx := ctxT(t)
				errc := make(chan error, 1)
				go func() {
					for _, m := range sent {
						if err := ab.Write(ctx, m); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
				for i, want := range sent {
					got, err := ba.Read(ctx)
					require.NoError(t, err, "message %d", i)
					require.Equal(t, want, got, "message %d", i)
				}
				require.NoError(t, <-errc)
			})
		}
	}
}

// TestChunkPerMessage: with Config.Wire.ChunkPerMessage every message is its
// own chunk on the wire: n messages cost exactly n chunk overheads.
func TestChunkPerMessage(t *testing.T) {
	n := newNetwork("mem")
	a := newNode(t, n, func(c *Config) { c.Wire.ChunkPerMessage = true })
	b := newNode(t, n, nil)
	ab, ba := connect(t, a, b)
	before := ab.Stat().Flow.TotalSent
	const msgs, body = 200, "0123456789"
	go func() {
		for range msgs - 1 {
			ab.Write(ctxT(t), body)
		}
	}()
	readN(t, ba, msgs-1)
	require.NoError(t, ab.WriteSync(ctxT(t), body))
	readN(t, ba, 1)
	// A message: 4-byte size, 2-byte tag, 4-byte string length, the
	// body; a chunk adds a 2-byte length and a 16-byte MAC.
	require.Equal(t, int64(msgs*(4+2+4+len(body)+18)), ab.Stat().Flow.TotalSent-before)
}
