package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

// Every probe's pool, reader and watcher must be gone when a crawl ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testChain = "P2PPOOL_CRAWL_TEST"

// testChainID is the chain the swarm's nodes serve: node i serves
// octeztest's chain of testChain with its head at level i.
var testChainID = octeztest.NewChain(testChain, 1).ID

// swarmNode is one test peer of the swarm: it behaves as octez's shell
// (tezos/octeztest, written from p2p_reader.ml), so it gives its head
// only to a crawler that activated the chain.
type swarmNode struct {
	peer  *octeztest.Peer
	chain *octeztest.Chain
	point netip.AddrPort
}

// startSwarm starts n test peers on hosts of nw, node i connected to node
// i-1, so that each knows its neighbours' points and advertises them.
// tweak, if not nil, adjusts node i's pool configuration.
func startSwarm(t *testing.T, ctx context.Context, nw *p2ppooltest.Network, n int, tweak func(i int, cfg *p2ppool.Config)) []*swarmNode {
	t.Helper()
	nodes := make([]*swarmNode, n)
	var serving sync.WaitGroup
	for i := range nodes {
		h := nw.NewHost()
		cfg := p2ppool.Config{Dialer: h,
			// Set, not left to Serve: the Connect below may run before
			// Serve has seen the listener, and would announce no port.
			Network: p2ppool.NetworkConfig{ListeningPort: 9732},
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		chain := octeztest.NewChain(testChain, i+1)
		peer, err := octeztest.New(ctx, octeztest.Config{Chain: chain, Pool: cfg})
		require.NoError(t, err)
		ln, err := h.Listen("tcp", ":9732")
		require.NoError(t, err)
		sn := &swarmNode{peer: peer, chain: chain, point: ln.Addr().(*net.TCPAddr).AddrPort()}
		serving.Go(func() { peer.Serve(ln) })
		nodes[i] = sn
		if i > 0 {
			require.NoError(t, peer.Connect(ctx, nodes[i-1].point))
		}
	}
	t.Cleanup(func() {
		for _, sn := range nodes {
			sn.peer.Close()
		}
		serving.Wait()
	})
	return nodes
}

// crawlWith runs the crawler from host h with args and returns its exit
// code, records and stderr.
func crawlWith(t *testing.T, ctx context.Context, h *p2ppooltest.Host, args ...string) (int, []record, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts, code := parseFlags(args, &stderr)
	require.NotNil(t, opts, "%d: %s", code, stderr.String())
	opts.dialer = h
	code = crawl(ctx, opts, &stdout, &stderr)
	var recs []record
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var r record
		require.NoError(t, dec.Decode(&r))
		recs = append(recs, r)
	}
	return code, recs, stderr.String()
}

func TestCrawlFindsWholeSwarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		nodes := startSwarm(t, ctx, nw, 32, nil)
		byPoint := make(map[string]int)
		for i, sn := range nodes {
			byPoint[sn.point.String()] = i
		}

		idFile := filepath.Join(t.TempDir(), "id.json")
		code, recs, stderr := crawlWith(t, ctx, nw.NewHost(), "-seed", nodes[0].point.String(),
			"-chain", testChain, "-chain-id", testChainID.String(), "-pow", "0", "-concurrency", "4", "-identity", idFile)
		require.Equal(t, exitOK, code, stderr)
		crawler, err := p2ppool.LoadIdentity(idFile, p2ppool.NoProofOfWork)
		require.NoError(t, err)
		require.Len(t, recs, 32, stderr)
		seen := make(map[string]bool)
		for _, r := range recs {
			i, ok := byPoint[r.Point]
			require.True(t, ok, "a point of the swarm: %+v", r)
			assert.False(t, seen[r.Point], "one line per point")
			seen[r.Point] = true
			assert.True(t, r.Reachable, "%+v", r)
			assert.Empty(t, r.Error)
			assert.Equal(t, 1, r.Attempts)
			assert.Equal(t, nodes[i].peer.ID().String(), r.PeerID)
			require.NotNil(t, r.Version)
			assert.Equal(t, version{ChainName: testChain, DistributedDB: 2, P2P: 1}, *r.Version)
			require.NotNil(t, r.HeadLevel, "%+v", r)
			assert.Equal(t, int32(i), *r.HeadLevel)
			_, head, _ := nodes[i].chain.Head()
			assert.Equal(t, head.String(), r.HeadHash)
			// The crawler activated the chain before asking: octez
			// ignored none of its messages.
			rem, ok := nodes[i].peer.Remote(crawler.PeerID)
			require.True(t, ok)
			assert.Zero(t, rem.Counters.InactiveChain, "node %d", i)
			// Each node advertises its neighbours in the chain.
			var want []string
			if i > 0 {
				want = append(want, nodes[i-1].point.String())
			}
			if i < len(nodes)-1 {
				want = append(want, nodes[i+1].point.String())
			}
			assert.Subset(t, r.Advertised, want, "node %d", i)
		}
		assert.Contains(t, stderr, "points found: 32\nreachable:    32\n")
		assert.Contains(t, stderr, "version:      "+testChain+" ddb 2 p2p 1: 32\n")
		assert.Contains(t, stderr, "highest head: 31\n")
	})
}

// A full node nacks the crawler with alternative points, which the crawl
// follows; a nack is final, not retried.
func TestCrawlFollowsNackPoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		nodes := startSwarm(t, ctx, nw, 3, func(i int, cfg *p2ppool.Config) {
			if i == 0 { // one connection, taken by node 1
				cfg.Limits.MinConnections, cfg.Limits.ExpectedConnections, cfg.Limits.MaxConnections = 1, 1, 1
			}
		})
		code, recs, stderr := crawlWith(t, ctx, nw.NewHost(), "-seed", nodes[0].point.String(),
			"-chain", testChain, "-pow", "0")
		require.Equal(t, exitOK, code, stderr)
		require.Len(t, recs, 3, stderr)
		full := recs[0]
		assert.Equal(t, nodes[0].point.String(), full.Point)
		assert.False(t, full.Reachable)
		assert.Contains(t, full.Error, "rejected")
		assert.Equal(t, 1, full.Attempts)
		assert.Equal(t, []string{nodes[1].point.String()}, full.NackPoints)
		for _, r := range recs[1:] {
			assert.True(t, r.Reachable, "%+v", r)
			assert.Nil(t, r.HeadLevel, "no head asked on a chain without an id")
		}
		assert.Contains(t, stderr, "reachable:    2\nunreachable:  1\n")
	})
}

// A point that refuses connections is tried -attempts times, backing off,
// and reported unreachable; the crawl exits 1 having reached nothing.
func TestCrawlBacksOffUnreachablePoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		dead := netip.AddrPortFrom(nw.NewHost().Addr(), 9732) // nothing listens
		start := time.Now()
		code, recs, stderr := crawlWith(t, ctx, nw.NewHost(), "-seed", dead.String(), "-chain", testChain,
			"-pow", "0", "-attempts", "3", "-backoff", "1s")
		assert.Equal(t, exitNoneReached, code)
		require.Len(t, recs, 1, stderr)
		r := recs[0]
		assert.Equal(t, dead.String(), r.Point)
		assert.False(t, r.Reachable)
		assert.Equal(t, 3, r.Attempts)
		assert.Contains(t, r.Error, "connection failed")
		assert.GreaterOrEqual(t, time.Since(start), 3*time.Second, "waited 1s, then 2s")
		assert.Contains(t, stderr, "unreachable:  1\n")
	})
}

// The time bound ends the crawl: the points not probed by then are
// reported so.
func TestCrawlTimeBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		nodes := startSwarm(t, ctx, nw, 4, nil)
		dead := netip.AddrPortFrom(nw.NewHost().Addr(), 9732)
		code, recs, stderr := crawlWith(t, ctx, nw.NewHost(), "-seed", nodes[0].point.String(), "-seed", dead.String(),
			"-chain", testChain, "-pow", "0", "-attempts", "5", "-backoff", "1m", "-duration", "30s")
		assert.Equal(t, exitOK, code)
		require.Len(t, recs, 5, stderr)
		last := recs[len(recs)-1]
		assert.Equal(t, dead.String(), last.Point, "the waiting point is reported last")
		assert.Equal(t, 1, last.Attempts)
		assert.Contains(t, last.Error, "connection failed")
		assert.Contains(t, stderr, "reachable:    4\n")
	})
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-seed", "nowhere"},
		{"-seed", "127.0.0.1:9732", "-concurrency", "0"},
		{"-seed", "127.0.0.1:9732", "-pow", "300"},
		{"-seed", "127.0.0.1:9732", "-chain-id", "NetBogus"},
		{"-seed", "127.0.0.1:9732", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, exitUsage, run(context.Background(), args, &stdout, &stderr), "%q", args)
		// One error line and the hint, not the whole usage.
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		require.Len(t, lines, 2, "%q: %s", args, stderr.String())
		assert.True(t, strings.HasPrefix(lines[0], "crawler: "), lines[0])
		assert.Equal(t, `run "crawler -h" for usage`, lines[1])
		assert.Empty(t, stdout.String())
	}
	var stderr bytes.Buffer
	assert.Equal(t, exitOK, run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "usage: crawler")
	assert.Contains(t, stderr.String(), "-log-format")
	opts, _ := parseFlags([]string{"-seed", "127.0.0.1:9732"}, &bytes.Buffer{})
	require.NotNil(t, opts.chainID, "mainnet's chain id comes from the table")
	assert.Equal(t, "NetXdQprcVkpaWU", opts.chainID.String())
	opts, _ = parseFlags([]string{"-seed", "127.0.0.1:9732", "-chain", "OTHER"}, &bytes.Buffer{})
	assert.Nil(t, opts.chainID, "no head asked on an unknown chain")
}

// -chain mainnet means mainnet's chain name, TEZOS_MAINNET, as node run's
// does (it announced "mainnet", which mainnet peers refuse); -seed takes
// HOST:PORT#PEER_ID.
func TestChainAliasAndSeedWithPeerID(t *testing.T) {
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	seed := "127.0.0.1:9732#" + id.PeerID.String()
	opts, code := parseFlags([]string{"-seed", seed, "-chain", "mainnet"}, &bytes.Buffer{})
	require.NotNil(t, opts, "%d", code)
	assert.Equal(t, "TEZOS_MAINNET", opts.chain)
	require.NotNil(t, opts.chainID)
	assert.Equal(t, "NetXdQprcVkpaWU", opts.chainID.String())
	assert.Equal(t, []string{seed}, opts.seeds)
}

// Interrupted, the crawl still prints its summary, then says so and
// exits 130.
func TestCrawlInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		nodes := startSwarm(t, context.Background(), nw, 2, nil)
		idFile := filepath.Join(t.TempDir(), "id.json")
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
		require.NoError(t, err)
		require.NoError(t, id.Save(idFile))
		cancel()
		code, _, stderr := crawlWith(t, ctx, nw.NewHost(), "-seed", nodes[0].point.String(),
			"-chain", testChain, "-pow", "0", "-identity", idFile)
		assert.Equal(t, exitInterrupted, code, stderr)
		assert.Contains(t, stderr, "points found:")
		assert.Contains(t, stderr, "crawler: interrupted")
	})
}

// -log-level and -log-format feed the probes' Config.Logger: the
// library's lines reach stderr, each with the point probed.
func TestCrawlLogFlags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		nodes := startSwarm(t, context.Background(), nw, 2, nil)
		_, _, stderr := crawlWith(t, context.Background(), nw.NewHost(), "-seed", nodes[0].point.String(),
			"-chain", testChain, "-pow", "0", "-log-level", "debug", "-log-format", "json")
		var found bool
		for line := range strings.Lines(stderr) {
			if strings.Contains(line, `"msg":"connection established"`) {
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
				assert.Equal(t, nodes[0].point.String(), rec["probe"])
				assert.Contains(t, rec, "remote")
				found = true
				break
			}
		}
		assert.True(t, found, stderr)
	})
}
