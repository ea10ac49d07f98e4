package main

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
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

// ask sends req and returns the next message the node sends but its
// own Get_current_branch.
func (p *shellPeer) ask(t *testing.T, ctx context.Context, req tezos.Message) tezos.Message {
	t.Helper()
	require.NoError(t, p.conn.Write(ctx, req))
	for {
		m, err := p.conn.Read(ctx)
		require.NoError(t, err, "the node keeps the connection")
		if _, ok := m.(tezos.GetCurrentBranch); !ok {
			return m
		}
	}
}

// TestRunBehavesAsOctezShell runs "node run -chain mainnet" against a
// test peer that follows octez's p2p_reader.ml (tezos/octeztest), not
// against our own shell: the node announces TEZOS_MAINNET, asks for the
// branch first so that octez takes its answers, answers Get_checkpoint
// and Get_predecessor_header, prints the branch and head the peer
// announces, and after the peer's Deactivate ignores its Get_current_head.
func TestRunBehavesAsOctezShell(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	node := startNode(t, ctx, nil, "-identity", filepath.Join(t.TempDir(), "id.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "mainnet", "-v")
	mainnet, _ := tezos.LookupNetwork("mainnet")
	genesis, _ := mainnet.GenesisHeader()
	chain := octeztest.NewNetworkChain(mainnet, 10)
	peer, err := octeztest.New(ctx, octeztest.Config{Chain: chain})
	require.NoError(t, err)
	defer peer.Close()
	// The handshake checks the chain name: TEZOS_MAINNET, not "mainnet".
	require.NoError(t, peer.Connect(ctx, netip.MustParseAddrPort(node.addr)))
	nodeID, err := p2ppool.ParsePeerID(node.peerID)
	require.NoError(t, err)
	node.stderr.waitLine(t, `chain TEZOS_MAINNET, id NetXdQprcVkpaWU, mainnet genesis BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2`)

	remote := func() octeztest.Remote {
		r, _ := peer.Remote(nodeID)
		return r
	}
	eventually := func(what string, cond func(r octeztest.Remote) bool) {
		t.Helper()
		require.Eventually(t, func() bool { return cond(remote()) }, waitTimeout, 5*time.Millisecond, what)
	}
	// Both sides asked for the branch: octez activated the chain for the
	// node and took its Current_branch (the genesis); the node printed
	// the peer's.
	eventually("octez takes the node's branch", func(r octeztest.Remote) bool { return r.Branch != nil })
	assert.Equal(t, genesis.Shell, remote().Branch.CurrentHead.Shell)
	assert.Equal(t, []tezos.ChainID{mainnet.ChainID()}, remote().Active)
	node.stdout.waitLine(t, `^current branch from `+peer.ID().String()+`: chain NetXdQprcVkpaWU level 9 hash B\w+ fitness \[02::00000009::::ffffffff::00000000\], 9 in history$`)

	send := func(m tezos.Message) { t.Helper(); require.NoError(t, peer.Send(ctx, nodeID, m)) }
	send(tezos.GetCheckpoint{ChainID: mainnet.ChainID()})
	send(tezos.GetPredecessorHeader{Block: mainnet.Genesis, Offset: 0})
	send(tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{{9}, mainnet.Genesis}})
	send(tezos.GetCurrentHead{ChainID: mainnet.ChainID()})
	eventually("answers", func(r octeztest.Remote) bool {
		return r.Received[tezos.TagCheckpoint] == 1 && r.Received[tezos.TagPredecessorHeader] == 1 &&
			r.Received[tezos.TagBlockHeader] == 1 && r.Received[tezos.TagCurrentHead] == 1
	})
	assert.Zero(t, remote().Counters.InactiveChain, "octez ignored nothing the node sent")

	send(tezos.CurrentHead{ChainID: mainnet.ChainID(), Header: chain.Headers[7]})
	node.stdout.waitLine(t, `^current head from `+peer.ID().String()+`: chain NetXdQprcVkpaWU level 7 `)

	// After Deactivate the node no longer answers heads, nor takes them.
	send(tezos.Deactivate{ChainID: mainnet.ChainID()})
	send(tezos.GetCurrentHead{ChainID: mainnet.ChainID()})
	node.stderr.waitLine(t, `inactive chain tezos.GetCurrentHead from `+peer.ID().String())
	send(tezos.GetOperations{Hashes: []tezos.OperationHash{{4}}})
	node.stderr.waitLine(t, `unknown tezos.GetOperations from `)
	assert.Equal(t, 1, remote().Received[tezos.TagCurrentHead])
	assert.True(t, remote().Connected, "nothing was held against the peer")

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
	// The chain is activated first (octez's gating, p2p_reader.ml 256).
	m := peer.ask(t, ctx, tezos.GetCurrentBranch{ChainID: cs.id})
	require.IsType(t, tezos.CurrentBranch{}, m)
	m = peer.ask(t, ctx, tezos.GetCurrentHead{ChainID: cs.id})
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
