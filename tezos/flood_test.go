package tezos

import (
	"context"
	"errors"
	"net"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// TestFitnessFloodIsBudgeted is the decoded-size attack of issue 16
// through a pool with the octez message set: 8 scripted peers each send
// Block_headers of 8 MiB whose fitness is two million empty elements
// (56 MiB each once decoded) to a node whose application reads them as
// fast as it can. The pool's budgets count each at its DecodedSize
// (63 MiB), so with the default 64 MiB budget one is decoded or queued
// at a time, not eight; the heap in use, sampled through the flood,
// stays under 300 MB (225 MiB measured). Counting wire bytes only, as
// before, let all eight decode at once: the peak was 1.6 GiB here
// (1.35-2.1 GiB RSS on the example node).
//
// What is measured is the Go heap in use (objects plus unused parts of
// in-use spans, runtime/metrics), sampled every millisecond, of the
// whole test process: the senders share one encoded message.
func TestFitnessFloodIsBudgeted(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 24 messages of 56 MiB")
	}
	const (
		peers   = 8
		each    = 3
		ceiling = 300e6 // bytes
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
	host := nw.NewHost()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	node, err := p2ppool.NewBasic(MessageConfig("TEZOS_TEST"), p2ppool.Config{
		Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: host,
		Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
	})
	require.NoError(t, err)
	ln, err := host.Listen("tcp", ":9732")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- node.Serve(ln) }()
	defer func() {
		require.NoError(t, node.Close())
		err := <-served
		assert.True(t, err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, p2ppool.ErrPoolClosed), "serve: %v", err)
	}()

	body, err := AppendBody(nil, BlockHeaderMessage{Header: fitnessHeader((MaxBlockHeaderSize - 200) / fitnessElemMin)})
	require.NoError(t, err)
	msg := (&wire.Message{Tag: TagBlockHeader, Body: body}).Append(nil)

	// The application: reads every message, keeps none.
	var got atomic.Int64
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for got.Load() < peers*each {
			_, m, err := node.Read(ctx)
			if err != nil {
				return
			}
			if h, ok := m.(BlockHeaderMessage); !ok || len(h.Header.Shell.Fitness) != (MaxBlockHeaderSize-200)/fitnessElemMin {
				t.Errorf("unexpected message %T", m)
			}
			got.Add(1)
		}
	}()

	// The heap, sampled until the flood is over.
	var peak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			peak = max(peak, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	}()

	var senders sync.WaitGroup
	var socks []*socket.Conn
	for range peers {
		sc := rawPeer(t, ctx, nw.NewHost(), ln.Addr().String())
		socks = append(socks, sc)
		senders.Go(func() {
			for range each {
				// Sealed a piece at a time, so that a sender holds a
				// piece, not the message.
				for off := 0; off < len(msg); off += 64 << 10 {
					if sc.WriteStream(msg[off:min(len(msg), off+64<<10)]) != nil {
						return
					}
				}
			}
		})
	}
	// The application stops when it has read everything or when ctx
	// ends; then no sender may stay blocked on a peer that no longer
	// reads (under -race on a loaded machine ctx can end first).
	<-reading
	for _, sc := range socks {
		sc.Close()
	}
	senders.Wait()
	close(stopSampling)
	<-sampled
	t.Logf("%d Block_headers of %d bytes (%d fitness elements) read; peak heap in use %.0f MiB; stats %v",
		got.Load(), len(body), (MaxBlockHeaderSize-200)/fitnessElemMin, float64(peak)/(1<<20), node.Stats())
	assert.Equal(t, int64(peers*each), got.Load())
	assert.Less(t, peak, uint64(ceiling), "peak heap in use")
}

// rawPeer is a scripted peer on host: it runs the handshake with the
// internal socket package, then writes whatever a test crafts.
func rawPeer(t *testing.T, ctx context.Context, host *p2ppooltest.Host, addr string) *socket.Conn {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	target, err := crypto.MakePowTarget(0)
	require.NoError(t, err)
	cfg := socket.Config{
		PublicKey:        crypto.PublicKey(id.PublicKey),
		SecretKey:        crypto.SecretKey(id.SecretKey),
		ProofOfWorkStamp: crypto.Nonce(id.ProofOfWorkStamp),
		Version:          wire.NetworkVersion{ChainName: "TEZOS_TEST", DistributedDB: 2, P2P: 1},
		PowTarget:        target,
		Metadata:         wire.Metadata{}.Append(nil),
	}
	nc, err := host.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	auth, err := socket.Authenticate(ctx, nc, false, &cfg)
	require.NoError(t, err)
	sc, err := auth.Accept()
	require.NoError(t, err)
	return sc
}
