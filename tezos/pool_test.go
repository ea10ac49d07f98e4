package tezos

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
)

type testPool = p2ppool.BasicPool[Message]
type testConn = p2ppool.BasicConnection[Message]

func newTestPool(t *testing.T, ctx context.Context) *testPool {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	p, err := p2ppool.NewBasic(MessageConfig("TEZOS_TEST"), p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestMessageConfigOverPool sends one message of every kind between two
// pools on loopback and checks each arrives equal: the glue plugs the
// whole set into p2ppool, and decoded messages own their bytes.
func TestMessageConfigOverPool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server, client := newTestPool(t, ctx), newTestPool(t, ctx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	incoming := make(chan *testConn, 1)
	server.Conns().OnNew(func(c *testConn) { incoming <- c })
	serveDone := make(chan error, 1)
	go func() { serveDone <- server.Serve(ln) }()
	defer func() {
		require.NoError(t, server.Close())
		err := <-serveDone
		assert.True(t, err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, p2ppool.ErrPoolClosed), "serve: %v", err)
	}()

	conn, err := client.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	require.NoError(t, err)
	var peer *testConn
	select {
	case peer = <-incoming:
	case <-ctx.Done():
		t.Fatal("no incoming connection")
	}

	g := newGen(42)
	for _, k := range Kinds() {
		m := g.message(k.Tag)
		require.NoError(t, conn.Write(ctx, m), k.Name)
		got, err := peer.Read(ctx)
		require.NoError(t, err, k.Name)
		assert.Equal(t, m, got, k.Name)
	}
}

func TestMessageConfigEncodings(t *testing.T) {
	mc := MessageConfig("TEZOS_MAINNET")
	assert.Equal(t, "TEZOS_MAINNET", mc.ChainName)
	assert.Equal(t, DistributedDBVersions, mc.DistributedDBVersions)
	require.Len(t, mc.Encodings, len(kinds))
	other := Deactivate{}
	for i, e := range mc.Encodings {
		assert.Equal(t, kinds[i].Tag, e.Tag)
		assert.Equal(t, kinds[i].MaxLength, e.MaxLength)
		m := newGen(uint64(i)).message(e.Tag)
		body, ok, err := e.Encode(nil, m)
		require.NoError(t, err)
		require.True(t, ok)
		got, err := e.Decode(body)
		require.NoError(t, err)
		assert.Equal(t, m, got)
		// The decoded message keeps its own copy of the body.
		for j := range body {
			body[j] ^= 0xFF
		}
		assert.Equal(t, m, got, "%s survives the pool reusing its buffer", e.Name)
		if e.Tag != other.Tag() {
			_, ok, err = e.Encode(nil, other)
			require.NoError(t, err)
			assert.False(t, ok, "%s does not encode a Deactivate", e.Name)
		}
	}
}
