package octeztest_test

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client is a bare pool with the distributed-DB set connected to a test
// peer: no shell logic of ours, so what it sees is the peer's alone.
type client struct {
	conn *p2ppool.BasicConnection[tezos.Message]
	id   p2ppool.PeerID
}

// start serves a Peer for chain on nw and connects a bare client to it.
func start(t *testing.T, nw *p2ppooltest.Network, cfg octeztest.Config) (*octeztest.Peer, *client) {
	t.Helper()
	ctx := context.Background()
	h := nw.NewHost()
	cfg.Pool.Dialer = h
	peer, err := octeztest.New(ctx, cfg)
	require.NoError(t, err)
	ln, err := h.Listen("tcp", ":9732")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() { defer close(served); peer.Serve(ln) }()
	t.Cleanup(func() { peer.Close(); <-served })

	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(cfg.Chain.Name), p2ppool.Config{Identity: id,
		ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: nw.NewHost(), Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}})
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	conn, err := pool.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	require.NoError(t, err)
	return peer, &client{conn: conn, id: id.PeerID}
}

// next returns the next message the client receives.
func (c *client) next(t *testing.T) tezos.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := c.conn.Read(ctx)
	require.NoError(t, err)
	return m
}

// nothing checks that no message is waiting once the bubble is idle.
func (c *client) nothing(t *testing.T) {
	t.Helper()
	synctest.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Error(t, c.conn.WaitReadable(ctx), "no message is waiting")
}

func (c *client) send(t *testing.T, m tezos.Message) {
	t.Helper()
	require.NoError(t, c.conn.Write(context.Background(), m))
}

// TestPeerGatesAsOctez walks the test peer through p2p_reader.ml's
// gating: its Get_current_branch on connection, a chain's messages
// ignored until the client activates it, answered after, ignored again
// after Deactivate; other chain ids ignored; data requests answered
// whatever the activation.
func TestPeerGatesAsOctez(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chain := octeztest.NewChain("OCTEZTEST", 30)
		peer, cl := start(t, p2ppooltest.NewNetwork(p2ppooltest.Config{}), octeztest.Config{Chain: chain})
		_, headHash, head := peer.Chain().Head() // the chain it serves: cfg.Chain

		// 806-820: the peer asks first.
		assert.Equal(t, tezos.GetCurrentBranch{ChainID: chain.ID}, cl.next(t))

		// Before activation: heads, branches, deactivations are ignored.
		cl.send(t, tezos.GetCurrentHead{ChainID: chain.ID})
		cl.send(t, tezos.CurrentHead{ChainID: chain.ID, Header: head})
		cl.nothing(t)
		r, ok := peer.Remote(cl.id)
		require.True(t, ok)
		assert.Equal(t, 2, r.Counters.InactiveChain)
		assert.Nil(t, r.Head, "a head of an inactive chain is not taken")
		assert.Empty(t, r.Active)

		// Data requests need no activation; the genesis header answers
		// for the genesis hash though it does not hash to it.
		cl.send(t, tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{chain.Genesis(), {9}, headHash}})
		assert.Equal(t, tezos.BlockHeaderMessage{Header: chain.Headers[0]}, cl.next(t))
		assert.Equal(t, tezos.BlockHeaderMessage{Header: head}, cl.next(t))
		cl.send(t, tezos.GetPredecessorHeader{Block: headHash, Offset: 5})
		assert.Equal(t, tezos.PredecessorHeader{Block: headHash, Offset: 5, Header: chain.Headers[24]}, cl.next(t))
		cl.send(t, tezos.GetCheckpoint{ChainID: chain.ID})
		assert.Equal(t, tezos.Checkpoint{ChainID: chain.ID, Header: chain.Headers[0]}, cl.next(t))

		// Another chain: nothing, whatever the message.
		other := tezos.ChainIDOf(tezos.BlockHash{7})
		cl.send(t, tezos.GetCurrentBranch{ChainID: other})
		cl.send(t, tezos.GetCheckpoint{ChainID: other})
		cl.nothing(t)

		// Activation.
		time.Sleep(4 * time.Second) // past the Get_current_branch window
		cl.send(t, tezos.GetCurrentBranch{ChainID: chain.ID})
		m := cl.next(t)
		br, ok := m.(tezos.CurrentBranch)
		require.True(t, ok, "got %T", m)
		assert.Equal(t, head, br.Locator.CurrentHead)
		require.NotEmpty(t, br.Locator.History)
		assert.Equal(t, chain.Hashes[28], br.Locator.History[0])
		assert.Equal(t, chain.Genesis(), br.Locator.History[len(br.Locator.History)-1])
		time.Sleep(4 * time.Second)
		cl.send(t, tezos.GetCurrentHead{ChainID: chain.ID})
		ch, ok := cl.next(t).(tezos.CurrentHead)
		require.True(t, ok)
		assert.Equal(t, head, ch.Header)
		cl.send(t, tezos.CurrentHead{ChainID: chain.ID, Header: chain.Headers[3]})
		synctest.Wait()
		r, _ = peer.Remote(cl.id)
		assert.Equal(t, []tezos.ChainID{chain.ID}, r.Active)
		require.NotNil(t, r.Head)
		assert.Equal(t, int32(3), r.Head.Shell.Level)

		// Deactivate: gated again.
		time.Sleep(4 * time.Second)
		cl.send(t, tezos.Deactivate{ChainID: chain.ID})
		synctest.Wait()
		cl.send(t, tezos.GetCurrentHead{ChainID: chain.ID})
		cl.nothing(t)
		r, _ = peer.Remote(cl.id)
		assert.Empty(t, r.Active)
		assert.Equal(t, 3, r.Counters.InactiveChain)
		assert.Equal(t, 1, r.Counters.Throttled, "the second Get_checkpoint within 10 s")
		assert.NoError(t, cl.conn.Err(), "nothing of this costs the connection")
	})
}

// TestPeerThrottlesAsOctez: a second Get_current_branch within 4 s is
// answered 4 s later (the reader sleeps, 174-192), and a second
// Get_protocols within 10 s is dropped after its cooldown (564).
func TestPeerThrottlesAsOctez(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chain := octeztest.NewChain("OCTEZTEST", 3)
		peer, cl := start(t, p2ppooltest.NewNetwork(p2ppooltest.Config{}), octeztest.Config{Chain: chain})
		cl.next(t) // its Get_current_branch
		t0 := time.Now()
		cl.send(t, tezos.GetCurrentBranch{ChainID: chain.ID})
		cl.send(t, tezos.GetCurrentBranch{ChainID: chain.ID})
		assert.IsType(t, tezos.CurrentBranch{}, cl.next(t))
		assert.Zero(t, time.Since(t0))
		assert.IsType(t, tezos.CurrentBranch{}, cl.next(t))
		assert.Equal(t, 4*time.Second, time.Since(t0), "the second waited the cooldown")

		cl.send(t, tezos.GetProtocols{Hashes: []tezos.ProtocolHash{{1}}})
		cl.send(t, tezos.GetProtocols{Hashes: []tezos.ProtocolHash{{2}}})
		time.Sleep(11 * time.Second)
		synctest.Wait()
		r, _ := peer.Remote(cl.id)
		assert.Equal(t, 2, r.Counters.Throttled)
		assert.Equal(t, 1, r.Counters.Dropped)
		assert.Equal(t, 1, r.Counters.Unadvertised, "the first was looked up")
	})
}

// TestPeerGreylistsKnownInvalid: a head naming a block the peer knows
// invalid costs the connection and a greylisting (453-461).
func TestPeerGreylistsKnownInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chain := octeztest.NewChain("OCTEZTEST", 5)
		peer, cl := start(t, p2ppooltest.NewNetwork(p2ppooltest.Config{}),
			octeztest.Config{Chain: chain, KnownInvalid: []tezos.BlockHash{chain.Hashes[4]}})
		cl.next(t)
		cl.send(t, tezos.GetCurrentBranch{ChainID: chain.ID})
		cl.next(t)
		cl.send(t, tezos.CurrentHead{ChainID: chain.ID, Header: chain.Headers[4]})
		<-cl.conn.Done()
		synctest.Wait()
		assert.Contains(t, peer.Pool().ACL().List().GreylistedPeers, cl.id)
	})
}

// TestPeerLies: each lie switch makes the answers fail the check a
// client must make.
func TestPeerLies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chain := octeztest.NewChain("OCTEZTEST", 6)
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		_, cl := start(t, nw, octeztest.Config{Chain: chain, Lies: octeztest.LieBadHash | octeztest.LieBadOperations})
		cl.next(t)
		cl.send(t, tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{chain.Hashes[3]}})
		bh := cl.next(t).(tezos.BlockHeaderMessage)
		got, err := bh.Header.Hash()
		require.NoError(t, err)
		assert.NotEqual(t, chain.Hashes[3], got)
		assert.Equal(t, chain.Headers[3].Shell, bh.Header.Shell)
		for pass := range int8(octeztest.Passes) {
			cl.send(t, tezos.GetOperationsForBlocks{Requests: []tezos.BlockPass{{Block: chain.Hashes[3], Pass: pass}}})
			ofb := cl.next(t).(tezos.OperationsForBlocks)
			root, pos := ofb.Path.Check(listHash(ofb.Operations))
			assert.Equal(t, int(pass), pos)
			assert.NotEqual(t, chain.Headers[3].Shell.OperationsHash, root, "pass %d", pass)
		}

		_, silent := start(t, nw, octeztest.Config{Chain: chain, Lies: octeztest.LieSilent})
		silent.next(t)
		silent.send(t, tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{chain.Hashes[3]}})
		silent.send(t, tezos.GetPredecessorHeader{Block: chain.Hashes[3], Offset: 1})
		silent.send(t, tezos.GetOperationsForBlocks{Requests: []tezos.BlockPass{{Block: chain.Hashes[3], Pass: 0}}})
		silent.nothing(t)

		_, honest := start(t, nw, octeztest.Config{Chain: chain})
		honest.next(t)
		for pass := range int8(octeztest.Passes) {
			honest.send(t, tezos.GetOperationsForBlocks{Requests: []tezos.BlockPass{{Block: chain.Hashes[3], Pass: pass}}})
			ofb := honest.next(t).(tezos.OperationsForBlocks)
			root, pos := ofb.Path.Check(listHash(ofb.Operations))
			assert.Equal(t, int(pass), pos)
			assert.Equal(t, chain.Headers[3].Shell.OperationsHash, root, "pass %d", pass)
		}
	})
}

func listHash(ops []tezos.Operation) tezos.OperationListHash {
	hs := make([]tezos.OperationHash, len(ops))
	for i := range ops {
		hs[i] = ops[i].Hash()
	}
	return tezos.OperationListHashOf(hs)
}
