package p2ppooltest_test

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// TestPoolsUnderSynctest demonstrates the network with real pools inside a
// synctest bubble: a second of latency on every link costs no real time,
// and the times the test sees are exact.
func TestPoolsUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		ha, hb := nw.NewHost(), nw.NewHost()
		nw.SetFaults(ha, hb, p2ppooltest.Faults{Latency: time.Second})
		nw.SetFaults(hb, ha, p2ppooltest.Faults{Latency: time.Second})

		type pool = p2ppool.BasicPool[string]
		type conn = p2ppool.BasicConnection[string]
		newPool := func(h *p2ppooltest.Host) *pool {
			id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
			require.NoError(t, err)
			p, err := p2ppool.NewBasic(p2ppool.MessageConfig[string]{
				Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
					func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
			},
				p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: h,
					Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}})
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			return p
		}
		a, b := newPool(ha), newPool(hb)
		ln, err := hb.Listen("tcp", ":9732")
		require.NoError(t, err)
		incoming := make(chan *conn, 1)
		b.Conns().OnNew(func(c *conn) { incoming <- c })
		go b.Serve(ln)

		start := time.Now()
		ca, err := a.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
		require.NoError(t, err)
		// The handshake is a few one-way trips of exactly a second each
		// (connection message, metadata, ack): virtual time is exact.
		took := time.Since(start)
		assert.GreaterOrEqual(t, took, 2*time.Second)
		assert.Zero(t, took%time.Second, "handshake took %v", took)
		cb := <-incoming
		assert.Equal(t, ha.Addr(), cb.Info().RemoteAddr.(*net.TCPAddr).AddrPort().Addr())

		start = time.Now()
		require.NoError(t, ca.Write(ctx, "ping"))
		msg, err := cb.Read(ctx)
		require.NoError(t, err)
		assert.Equal(t, "ping", msg)
		assert.Equal(t, time.Second, time.Since(start))
	})
}
