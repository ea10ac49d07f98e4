package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

// The far end of every test here is a tezos/octeztest peer, written from
// octez's p2p_reader.ml: it sends Get_current_branch on connection
// (806-820), gives its branch only to a peer that activated the chain
// (362-383; may_handle, 256-262 for heads), answers Get_block_headers
// with the headers it has and says nothing of those it has not (474-489),
// and lies when told to (bad hash, silence), or serves a chain with a
// broken link or a wrong level. Never our own node.

const syncTestChain = "P2PPOOL_SYNC_TEST"

// startSyncPeers starts one octeztest peer per lie on hosts of nw, each
// serving chain, and returns them with their points.
func startSyncPeers(t *testing.T, ctx context.Context, nw *p2ppooltest.Network, chain *octeztest.Chain, lies ...octeztest.Lie) ([]*octeztest.Peer, []string) {
	t.Helper()
	peers := make([]*octeztest.Peer, len(lies))
	points := make([]string, len(lies))
	var serving sync.WaitGroup
	for i, lie := range lies {
		h := nw.NewHost()
		p, err := octeztest.New(ctx, octeztest.Config{Chain: chain, Lies: lie, Pool: p2ppool.Config{Dialer: h, Network: p2ppool.NetworkConfig{ListeningPort: 9732}}})
		require.NoError(t, err)
		ln, err := h.Listen("tcp", ":9732")
		require.NoError(t, err)
		serving.Go(func() { p.Serve(ln) })
		peers[i], points[i] = p, ln.Addr().(*net.TCPAddr).AddrPort().String()
	}
	t.Cleanup(func() {
		for _, p := range peers {
			p.Close()
		}
		serving.Wait()
	})
	return peers, points
}

// syncRun runs "node sync" with args and -peer for each point, from a
// host of nw, and returns its exit code, stdout and stderr.
func syncRun(t *testing.T, ctx context.Context, nw *p2ppooltest.Network, points []string, args ...string) (int, string, string) {
	t.Helper()
	for _, p := range points {
		args = append(args, "-peer", p)
	}
	var stdout, stderr bytes.Buffer
	opts, code := parseSyncFlags(args, &stderr)
	require.NotNil(t, opts, "%d: %s", code, stderr.String())
	opts.dialer = nw.NewHost()
	code = syncChain(ctx, opts, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// syncArgs are the flags of a sync of chain into dir.
func syncArgs(dir string, chain *octeztest.Chain, extra ...string) []string {
	return append([]string{"-identity", filepath.Join(dir, "id.json"), "-pow", "0", "-out", filepath.Join(dir, "headers.jsonl"),
		"-chain", chain.Name, "-genesis", chain.Genesis().String()}, extra...)
}

type headerLine struct {
	Level       int32  `json:"level"`
	Hash        string `json:"hash"`
	Predecessor string `json:"predecessor"`
	Raw         string `json:"raw"`
}

// requireChainFile checks that the file at path is chain, line by line.
func requireChainFile(t *testing.T, path string, chain *octeztest.Chain) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		var l headerLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %d", i)
		require.Less(t, i, len(chain.Headers), "more lines than blocks")
		raw, err := tezos.BlockHeaderCodec.Encode(nil, &chain.Headers[i])
		require.NoError(t, err)
		require.Equal(t, int32(i), l.Level, "line %d", i)
		require.Equal(t, chain.Hashes[i].String(), l.Hash, "line %d", i)
		require.Equal(t, chain.Headers[i].Shell.Predecessor.String(), l.Predecessor, "line %d", i)
		require.Equal(t, hex.EncodeToString(raw), l.Raw, "line %d", i)
	}
	require.NoError(t, sc.Err())
	require.Equal(t, len(chain.Headers), i, "one line per block, genesis to head")
}

// ourID is the peer id of the identity a sync wrote into dir.
func ourID(t *testing.T, dir string) p2ppool.PeerID {
	t.Helper()
	id, err := p2ppool.LoadIdentity(filepath.Join(dir, "id.json"), p2ppool.NoProofOfWork)
	require.NoError(t, err)
	return id.PeerID
}

func TestSyncHonestPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		chain := octeztest.NewChain(syncTestChain, 300)
		peers, points := startSyncPeers(t, ctx, nw, chain, 0, 0, 0)
		dir := t.TempDir()
		code, stdout, stderr := syncRun(t, ctx, nw, points, syncArgs(dir, chain)...)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "synced 300 headers")
		assert.Contains(t, stderr, "headers/s")
		requireChainFile(t, filepath.Join(dir, "headers.jsonl"), chain)

		// The work was spread: several peers got Get_block_headers.
		me := ourID(t, dir)
		busy := 0
		for _, p := range peers {
			r, ok := p.Remote(me)
			require.True(t, ok)
			if r.Received[tezos.TagGetBlockHeaders] > 0 {
				busy++
			}
			// The sync activated the chain before anything else, so
			// octez ignored nothing it sent.
			assert.Zero(t, r.Counters.InactiveChain)
			assert.Zero(t, r.Counters.UnexpectedResponse)
		}
		assert.GreaterOrEqual(t, busy, 2, "headers fetched from more than one peer")
		assert.NotContains(t, stderr, "greylisted")

		// No temporary file is left beside the output.
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 2, "id.json and headers.jsonl only")
	})
}

func TestSyncOneLiar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		chain := octeztest.NewChain(syncTestChain, 200)
		peers, points := startSyncPeers(t, ctx, nw, chain, 0, octeztest.LieBadHash, 0)
		dir := t.TempDir()
		code, _, stderr := syncRun(t, ctx, nw, points, syncArgs(dir, chain)...)
		require.Equal(t, exitOK, code, stderr)
		requireChainFile(t, filepath.Join(dir, "headers.jsonl"), chain)
		assert.Contains(t, stderr, "greylisted "+peers[1].ID().String())
		assert.NotContains(t, stderr, "greylisted "+peers[0].ID().String())
		assert.NotContains(t, stderr, "greylisted "+peers[2].ID().String())
		// The liar was dropped at its first lie: it got only the
		// requests already in flight to it then (at most the requester's
		// per-peer bound), the honest ones the rest.
		r, _ := peers[1].Remote(ourID(t, dir))
		assert.LessOrEqual(t, r.Received[tezos.TagGetBlockHeaders], tezos.DefaultRequestsPerPeer)
	})
}

func TestSyncInvalidChains(t *testing.T) {
	base := octeztest.NewChain(syncTestChain, 200)
	for _, tc := range []struct {
		name  string
		chain *octeztest.Chain
		want  string
	}{
		// Block 150 names a predecessor no peer has.
		{"broken link", base.WithBrokenLink(150), "no honest answer for block "},
		// Block 150 claims level 151 above a block at 149.
		{"wrong level", base.WithWrongLevel(150), "wrong level: block "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
				peers, points := startSyncPeers(t, ctx, nw, tc.chain, 0, 0, 0)
				dir := t.TempDir()
				code, stdout, stderr := syncRun(t, ctx, nw, points, syncArgs(dir, tc.chain, "-request-timeout", "2s")...)
				require.Equal(t, exitFailure, code, stderr)
				assert.Empty(t, stdout)
				line := lastLine(stderr)
				assert.True(t, strings.HasPrefix(line, "sync: "+tc.want), line)
				// The message names the peers: those asked, or those
				// that announced the head of that chain (which of the
				// three had connected and answered by then depends on
				// the schedule, so at least one).
				named := 0
				for _, p := range peers {
					if strings.Contains(line, p.ID().String()) {
						named++
					}
				}
				assert.Positive(t, named, "the message names a peer that served the chain: %s", line)
				_, err := os.Stat(filepath.Join(dir, "headers.jsonl"))
				assert.True(t, os.IsNotExist(err), "nothing written for an invalid chain")
			})
		})
	}
}

func TestSyncSilentPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		chain := octeztest.NewChain(syncTestChain, 50)
		peers, points := startSyncPeers(t, ctx, nw, chain, octeztest.LieSilent, octeztest.LieSilent)
		dir := t.TempDir()
		start := time.Now()
		code, _, stderr := syncRun(t, ctx, nw, points, syncArgs(dir, chain, "-request-timeout", "3s")...)
		require.Equal(t, exitFailure, code, stderr)
		line := lastLine(stderr)
		assert.True(t, strings.HasPrefix(line, "sync: no honest answer for "), line)
		for _, p := range peers {
			assert.Contains(t, line, p.ID().String()+" (no answer)")
		}
		// Each peer had its request timeout.
		assert.GreaterOrEqual(t, time.Since(start), 2*3*time.Second)

		// Under -timeout shorter than the requests' the whole sync stops
		// there, naming the peers still connected.
		start = time.Now()
		code, _, stderr = syncRun(t, ctx, nw, points, syncArgs(t.TempDir(), chain, "-request-timeout", "1m", "-timeout", "20s")...)
		require.Equal(t, exitFailure, code, stderr)
		assert.Equal(t, 20*time.Second, time.Since(start).Round(time.Second))
		line = lastLine(stderr)
		assert.True(t, strings.HasPrefix(line, "sync: -timeout reached"), line)
		for _, p := range peers {
			assert.Contains(t, line, p.ID().String())
		}
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestSyncUsage(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "id.json")
	out := filepath.Join(dir, "h.jsonl")
	peerID := "idtJunKYnVTfBXy2vrbByh4EF9ddDR" // any valid peer id
	_, err := p2ppool.ParsePeerID(peerID)
	if err != nil {
		gen, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
		require.NoError(t, err)
		peerID = gen.PeerID.String()
	}
	ok := []string{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732#" + peerID, "-peer", "[::1]:9732", "-peer", "node.example.org:9732"}
	for _, args := range [][]string{
		{"sync"},
		{"sync", "-identity", id, "-peer", "127.0.0.1:9732"},                               // no -out
		{"sync", "-out", out, "-peer", "127.0.0.1:9732"},                                   // no -identity
		{"sync", "-identity", id, "-out", out},                                             // no -peer
		{"sync", "-identity", id, "-out", out, "-peer", "nowhere"},                         // no port
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:0"},                     // port 0
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732#notapeerid"},       // bad peer id
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732", "-chain", "MY"},  // no genesis for MY
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732", "-genesis", "B"}, // bad genesis
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732", "-timeout", "-1s"},
		{"sync", "-identity", id, "-out", out, "-peer", "127.0.0.1:9732", "-pow", "300"},
		append(append([]string{}, ok...), "extra"),
	} {
		code, stdout, stderr := runCmd(t, context.Background(), args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.Empty(t, stdout)
		// Go's convention: one line naming the error, then the hint.
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		assert.Len(t, lines, 2, "%q: %s", args, stderr)
		assert.True(t, strings.HasPrefix(stderr, "node sync: "), "%q: %s", args, stderr)
		assert.Contains(t, stderr, `run "node sync -h" for usage`, "%q", args)
	}
	opts, code := parseSyncFlags(ok[1:], &bytes.Buffer{})
	require.NotNil(t, opts, code)
	assert.Len(t, opts.peers, 3)
	mainnet, _ := tezos.LookupNetwork("mainnet")
	tg := targetOf(opts)
	assert.Equal(t, "TEZOS_MAINNET", tg.name, "-chain defaults to mainnet, announced by its chain name")
	assert.Equal(t, mainnet.Genesis, tg.genesis)
	assert.NotNil(t, tg.genesisHeader)
	_, err = os.Stat(id)
	assert.True(t, os.IsNotExist(err), "no identity written on a usage error")

	code, _, stderr := runCmd(t, context.Background(), "sync", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stderr, "-peer HOST:PORT[#PEER_ID]")
}
