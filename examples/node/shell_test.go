package main

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
)

// shellPeer is a scripted peer: a pool that speaks only the distributed-DB
// set, connected to a node.
type shellPeer struct {
	pool *p2ppool.BasicPool[tezos.Message]
	conn *p2ppool.BasicConnection[tezos.Message]
}

func dialShellPeer(t *testing.T, ctx context.Context, chainName, addr string) *shellPeer {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(chainName), p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork})
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	conn, err := pool.Connect(ctx, netip.MustParseAddrPort(addr))
	require.NoError(t, err)
	return &shellPeer{pool: pool, conn: conn}
}

// ask sends req and returns the next message the node sends.
func (p *shellPeer) ask(t *testing.T, ctx context.Context, req tezos.Message) tezos.Message {
	t.Helper()
	require.NoError(t, p.conn.Write(ctx, req))
	m, err := p.conn.Read(ctx)
	require.NoError(t, err, "the node keeps the connection")
	return m
}

func TestRunAnswersShellRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	node := startNode(t, ctx, nil, "-identity", filepath.Join(t.TempDir(), "id.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "TEZOS_MAINNET", "-v")
	peer := dialShellPeer(t, ctx, "TEZOS_MAINNET", node.addr)
	mainnet, _ := tezos.LookupNetwork("mainnet")
	genesis, _ := mainnet.GenesisHeader()
	chain := mainnet.ChainID()

	// Messages the node does not answer come first: were any of them to
	// cost the connection, the requests below would fail.
	other := tezos.ChainIDOf(tezos.BlockHash{1})
	for _, m := range []tezos.Message{
		tezos.GetCurrentHead{ChainID: other},   // another chain
		tezos.GetCurrentBranch{ChainID: other}, // another chain
		tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{{2}, {3}}},
		tezos.GetOperations{Hashes: []tezos.OperationHash{{4}}},
		tezos.GetProtocols{Hashes: []tezos.ProtocolHash{{5}}},
		tezos.GetCheckpoint{ChainID: chain},
		tezos.Deactivate{ChainID: other},
		tezos.CurrentHead{ChainID: chain, Header: tezos.BlockHeader{Shell: tezos.ShellHeader{Level: 42,
			Fitness: [][]byte{{0x02}, {0x00, 0x00, 0x01, 0x00}}}}},
		tezos.CurrentBranch{ChainID: chain, Locator: tezos.BlockLocator{
			CurrentHead: tezos.BlockHeader{Shell: tezos.ShellHeader{Level: 7}}, History: []tezos.BlockHash{{6}, {7}}}},
	} {
		require.NoError(t, peer.conn.Write(ctx, m), "%T", m)
	}

	m := peer.ask(t, ctx, tezos.GetCurrentHead{ChainID: chain})
	head, ok := m.(tezos.CurrentHead)
	require.True(t, ok, "got %T", m)
	assert.Equal(t, chain, head.ChainID)
	assert.Equal(t, genesis.Shell, head.Header.Shell)
	assert.Empty(t, head.Mempool.KnownValid)

	m = peer.ask(t, ctx, tezos.GetCurrentBranch{ChainID: chain})
	branch, ok := m.(tezos.CurrentBranch)
	require.True(t, ok, "got %T", m)
	assert.Equal(t, chain, branch.ChainID)
	assert.Equal(t, genesis.Shell, branch.Locator.CurrentHead.Shell)
	assert.Empty(t, branch.Locator.History)

	// Of three blocks asked for, the node has one: one answer.
	m = peer.ask(t, ctx, tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{{8}, mainnet.Genesis, {9}}})
	bh, ok := m.(tezos.BlockHeaderMessage)
	require.True(t, ok, "got %T", m)
	assert.Equal(t, genesis.Shell, bh.Header.Shell)
	m = peer.ask(t, ctx, tezos.GetCurrentHead{ChainID: chain})
	assert.IsType(t, tezos.CurrentHead{}, m, "nothing else was sent in between")

	node.stdout.waitLine(t, `^current head from \S+: chain NetXdQprcVkpaWU level 42 hash B\w+ fitness \[02::00000100\]$`)
	node.stdout.waitLine(t, `^current branch from \S+: chain NetXdQprcVkpaWU level 7 hash B\w+ fitness \[\], 2 in history$`)
	node.stderr.waitLine(t, `ignored tezos.GetOperations from`)
	node.stderr.waitLine(t, `asked for block \S+, which the node does not have`)
	node.stderr.waitLine(t, `chain TEZOS_MAINNET, id NetXdQprcVkpaWU, mainnet genesis BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2`)

	// The connection is up, nothing was held against the peer.
	assert.NoError(t, peer.conn.Err())
	assert.NotContains(t, node.stdout.String(), "disconnected")
	assert.Zero(t, peer.conn.Stat().Unknown)
	me := peer.pool.Config().Identity.PeerID
	peer.conn.Disconnect(ctx, true)
	<-peer.conn.Done()
	node.stdout.waitLine(t, `^disconnected `+regexp.QuoteMeta(me.String())+` \S+ in: (peer said disconnect|closed by peer)$`)
	cancel()
	assert.Equal(t, exitOK, node.wait(t))
}

// A chain outside the built-in table gets a local genesis, and Text with
// -echo works on the same connections as the shell's messages.
func TestRunLocalChainWithText(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "b.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "P2PPOOL_TEST", "-echo")
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	a := startNode(t, ctx, stdinR, "-identity", filepath.Join(dir, "a.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "P2PPOOL_TEST", "-peer", b.addr)
	a.stdout.waitLine(t, `^connected `+b.peerID+` `)

	peer := dialShellPeer(t, ctx, "P2PPOOL_TEST", b.addr)
	cs := chainFor("P2PPOOL_TEST")
	m := peer.ask(t, ctx, tezos.GetCurrentHead{ChainID: cs.id})
	head, ok := m.(tezos.CurrentHead)
	require.True(t, ok, "got %T", m)
	assert.Equal(t, cs.headHash, head.Header.Shell.Predecessor, "genesis is its own predecessor")
	m = peer.ask(t, ctx, tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{cs.headHash}})
	assert.IsType(t, tezos.BlockHeaderMessage{}, m)
	assert.NotEqual(t, chainFor("OTHER").id, cs.id)

	// A's text reaches B, which echoes it.
	_, err := io.WriteString(stdinW, "hello, shell\n")
	require.NoError(t, err)
	b.stdout.waitLine(t, `^text from `+a.peerID+`: hello, shell$`)
	a.stdout.waitLine(t, `^text from `+b.peerID+`: hello, shell$`)
	assert.NoError(t, peer.conn.Err())
	cancel()
	assert.Equal(t, exitOK, b.wait(t))
	assert.Equal(t, exitOK, a.wait(t))
}
