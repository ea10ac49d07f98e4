package p2ppool

import (
	"context"
	"fmt"
	"net"
	"testing"
)

// bytesMessages is a message set whose Msg is a raw []byte body (tag
// 0x1001): encoding appends it, decoding copies it, the one allocation a
// received message needs.
func bytesMessages() MessageConfig[[]byte] {
	return MessageConfig[[]byte]{ChainName: "P2PPOOL_TEST", Encodings: []Encoding[[]byte]{{
		Tag:    0x1001,
		Name:   "bytes",
		Encode: func(dst []byte, m []byte) ([]byte, bool, error) { return append(dst, m...), true, nil },
		Decode: func(body []byte) ([]byte, error) { return append([]byte(nil), body...), nil },
	}}}
}

// BenchmarkPoolThroughputBytes is BenchmarkPoolThroughput with []byte
// messages: one allocation per message, the slice Read returns; the
// write path allocates nothing per message.
func BenchmarkPoolThroughputBytes(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			n := newNetwork("loopback")
			newBytesPool := func() (*Pool[[]byte, struct{}, Metadata], net.Listener) {
				cfg := Config{Identity: testIdentity(b), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
				p, err := NewBasic(bytesMessages(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				ln := n.listen(b)
				served := make(chan error, 1)
				go func() { served <- p.Serve(ln) }()
				b.Cleanup(func() { p.Close(); <-served })
				return p, ln
			}
			x, _ := newBytesPool()
			y, lny := newBytesPool()
			ctx := context.Background()
			cx, err := x.Connect(ctx, lny.Addr().(*net.TCPAddr).AddrPort())
			if err != nil {
				b.Fatal(err)
			}
			var cy *BasicConnection[[]byte]
			waitFor(b, "the accepted end", func() bool {
				var ok bool
				cy, ok = y.Conns().ByPeer(x.Config().Identity.PeerID)
				return ok
			})
			msg := make([]byte, size-6) // 6 bytes of envelope
			b.SetBytes(int64(size))
			pump(b, cx, cy, msg)
		})
	}
}
