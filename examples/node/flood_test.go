package main

import (
	"context"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
	"github.com/p2ppool/p2ppool/tezos"
)

// memNode runs the node's pool and shell handler (what "node run" runs)
// on a p2ppooltest network, until the test ends.
func memNode(t *testing.T, net *p2ppooltest.Network, chainName string) (*node, netip.AddrPort) {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	pool, err := p2ppool.NewBasic(messageConfig(chainName), p2ppool.Config{
		Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Wire: p2ppool.WireConfig{UnknownMessages: p2ppool.UnknownMessagesIgnore},
	})
	require.NoError(t, err)
	n := &node{pool: pool, out: &lineWriter{w: io.Discard}, errw: &lineWriter{w: io.Discard}, chain: chainFor(chainName)}
	n.shell, err = n.newShell()
	require.NoError(t, err)
	require.NoError(t, pool.Conns().OnNew(n.onConnection))
	ln, err := net.NewHost().Listen("tcp", ":9732")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() { defer close(served); pool.Serve(ln) }()
	t.Cleanup(func() {
		pool.Close()
		<-served
		n.readers.Wait()
	})
	return n, netip.MustParseAddrPort(ln.Addr().String())
}

// shellClient is a peer speaking the shell's messages from the address
// src of net.
func shellClient(t *testing.T, net *p2ppooltest.Network, chainName, src string) *p2ppool.BasicPool[tezos.Message] {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	p, err := p2ppool.NewBasic(tezos.MessageConfig(chainName), p2ppool.Config{
		Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: net.Host(src), Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
	})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// readAllCounting reads c until it ends, counting the Current_branch
// answers it reads (not the node's own Get_current_branch).
func readAllCounting(c *p2ppool.BasicConnection[tezos.Message], got *int) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if _, ok := m.(tezos.CurrentBranch); ok {
				*got++
			}
		}
	}()
	return done
}

// TestShellFloodIsBudgeted: a peer that reads everything sends
// Get_current_branch, 100 every 10 ms, for 10 s, reconnecting when cut.
// The node answers its budget's worth, ignores the rest, cuts the peer
// and greylists its address for flooding, and over the 10 s sends at most
// twice the bytes it received. An honest peer asking every 10 s all the
// while is answered every time.
func TestShellFloodIsBudgeted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const chainName = "TEZOS_MAINNET"
		mainnet, _ := tezos.LookupNetwork("mainnet")
		chain := mainnet.ChainID()
		net := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n, point := memNode(t, net, chainName)

		// The honest peer, from another subnet.
		honest := shellClient(t, net, chainName, "10.2.0.1")
		hc, err := honest.Connect(context.Background(), point)
		require.NoError(t, err)
		var honestGot int
		honestDone := readAllCounting(hc, &honestGot)
		var wg sync.WaitGroup
		honestAsked := 0
		wg.Go(func() {
			for range 10 {
				require.NoError(t, hc.Write(context.Background(), tezos.GetCurrentBranch{ChainID: chain}))
				honestAsked++
				time.Sleep(10 * time.Second)
			}
		})

		synctest.Wait()
		before := n.pool.Stats()
		start := time.Now()
		attacker := shellClient(t, net, chainName, "10.1.0.1")
		var answered, dials, sent int
		var first *p2ppool.BasicConnection[tezos.Message]
		for time.Since(start) < 10*time.Second {
			dials++
			c, err := attacker.Connect(context.Background(), point)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if first == nil {
				first = c
			}
			done := readAllCounting(c, &answered)
			for c.Err() == nil && time.Since(start) < 10*time.Second {
				for range 100 {
					if c.WriteNow(tezos.GetCurrentBranch{ChainID: chain}) == nil {
						sent++
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.Disconnect(context.Background(), false)
			<-done
		}
		synctest.Wait()
		after := n.pool.Stats()
		out := after.Traffic.Flow.TotalSent - before.Traffic.Flow.TotalSent
		in := after.Traffic.Flow.TotalRecv - before.Traffic.Flow.TotalRecv
		ratio := float64(out) / float64(in)
		budget := n.shell.Budget(tezos.TagGetCurrentBranch)
		t.Logf("Get_current_branch flood: %d sent, %d answered, %d refused, %d dials; node wire out %d B / in %d B = %.3f",
			sent, answered, budget.Refused(), dials, out, in, ratio)

		limit := budget.Limit()
		assert.LessOrEqual(t, float64(answered), float64(limit.Burst)+limit.Rate*10, "answers within the budget")
		assert.Positive(t, answered)
		assert.LessOrEqual(t, ratio, 2.0, "bytes out ÷ bytes in")
		require.NotNil(t, first)
		assert.Error(t, first.Err(), "the flooder was cut")
		assert.True(t, n.pool.Peers().Banned(attacker.Config().Identity.PeerID), "the flooder is greylisted")
		assert.True(t, n.pool.ACL().AddrBanned(netip.MustParseAddr("10.1.0.1")), "the flooder's address is greylisted")
		assert.Equal(t, uint64(1), after.Control.Floods-before.Control.Floods)

		wg.Wait()
		synctest.Wait()
		assert.Equal(t, honestAsked, honestGot, "the honest peer got every answer")
		assert.NoError(t, hc.Err(), "and keeps its connection")
		hc.Disconnect(context.Background(), false)
		<-honestDone
	})
}

func TestRunAdmissionFlags(t *testing.T) {
	base := []string{"-identity", "id.json", "-listen", "127.0.0.1:0"}
	opts, code := parseRunFlags(append(base, "-limit-loopback", "-min-connections", "1", "-expected-connections", "2",
		"-max-connections", "3", "-max-incoming", "4", "-max-incoming-per-addr", "5", "-max-incoming-per-subnet", "6",
		"-max-pending-per-addr", "7", "-max-pending-per-subnet", "8"), io.Discard)
	require.NotNil(t, opts, "exit code %d", code)
	var cfg p2ppool.Config
	opts.admission.apply(&cfg)
	assert.Equal(t, p2ppool.Config{
		Limits: p2ppool.Limits{MinConnections: 1, ExpectedConnections: 2, MaxConnections: 3},
		Admission: p2ppool.AdmissionConfig{
			LimitLoopback: true, MaxIncomingConnections: 4,
			MaxIncomingPerAddr: 5, MaxIncomingPerSubnet: 6, MaxPendingPerAddr: 7, MaxPendingPerSubnet: 8,
		},
	}, cfg)

	// Absent flags leave the library's defaults.
	opts, _ = parseRunFlags(base, io.Discard)
	require.NotNil(t, opts)
	cfg = p2ppool.Config{}
	opts.admission.apply(&cfg)
	assert.Equal(t, p2ppool.Config{}, cfg)

	for _, bad := range []string{"-1", "x", strconv.Itoa(-5)} {
		opts, code := parseRunFlags(append(base, "-max-incoming-per-addr", bad), io.Discard)
		assert.Nil(t, opts, bad)
		assert.Equal(t, exitUsage, code, bad)
	}
}
