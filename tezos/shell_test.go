package tezos_test

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
	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

// chainStore serves octeztest chains as a tezos.Store: the data, not the
// behaviour, is shared with the test peer.
type chainStore struct{ chains []*octeztest.Chain }

func (s chainStore) find(id tezos.ChainID) *octeztest.Chain {
	for _, c := range s.chains {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s chainStore) Head(id tezos.ChainID) (tezos.BlockHeader, bool) {
	if c := s.find(id); c != nil {
		_, _, h := c.Head()
		return h, true
	}
	return tezos.BlockHeader{}, false
}

func (s chainStore) Header(h tezos.BlockHash) (tezos.BlockHeader, bool) {
	for _, c := range s.chains {
		if i, ok := c.Find(h); ok {
			return c.Headers[i], true
		}
	}
	return tezos.BlockHeader{}, false
}

func (s chainStore) Checkpoint(id tezos.ChainID) (tezos.BlockHeader, bool) {
	if c := s.find(id); c != nil {
		return c.Headers[0], true
	}
	return tezos.BlockHeader{}, false
}

// handled is one message our side handled, and what it did.
type handled struct {
	tag     uint16
	verdict tezos.Verdict
}

// shellSide is a pool of ours whose connections run a tezos.Session.
type shellSide struct {
	id       p2ppool.PeerID
	verdicts chan handled
	branches chan tezos.BlockLocator
}

// runShell connects a pool of ours running shell to peer, from a host of
// nw; start says whether each Session is started.
func runShell(t *testing.T, nw *p2ppooltest.Network, peer *octeztest.Peer, chains []*octeztest.Chain, start bool, tweak func(*tezos.ShellConfig)) *shellSide {
	t.Helper()
	ctx := context.Background()
	side := &shellSide{verdicts: make(chan handled, 100), branches: make(chan tezos.BlockLocator, 10)}
	cfg := tezos.ShellConfig{Store: chainStore{chains}, OnBranch: func(_ p2ppool.PeerID, _ tezos.ChainID, l tezos.BlockLocator) {
		side.branches <- l
	}}
	for _, c := range chains {
		cfg.Chains = append(cfg.Chains, c.ID)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	shell, err := tezos.NewShell(cfg)
	require.NoError(t, err)

	h := nw.NewHost()
	ln, err := h.Listen("tcp", ":9732")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() { defer close(served); peer.Serve(ln) }()

	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	side.id = id.PeerID
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(chains[0].Name), p2ppool.Config{Identity: id,
		ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: nw.NewHost(), Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}})
	require.NoError(t, err)
	readers := make(chan struct{})
	pool.Conns().OnNew(func(c *p2ppool.BasicConnection[tezos.Message]) {
		go func() {
			defer close(readers)
			s := shell.Attach(c)
			if start {
				_ = s.Start(c.Context())
			}
			for {
				m, err := c.Read(c.Context())
				if err != nil {
					return
				}
				side.verdicts <- handled{m.Tag(), s.Handle(m)}
			}
		}()
	})
	t.Cleanup(func() { pool.Close(); <-readers; peer.Close(); <-served })
	_, err = pool.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	require.NoError(t, err)
	return side
}

func (s *shellSide) next(t *testing.T) handled {
	t.Helper()
	select {
	case h := <-s.verdicts:
		return h
	case <-time.After(time.Minute):
		t.Fatal("nothing handled")
		return handled{}
	}
}

// TestSessionActivatesWithOctez: started, a Session sends
// Get_current_branch as octez does, so the octez peer activates the chain
// for it and takes its Current_branch; the peer's own Get_current_branch
// activates it on our side, so the peer's branch reaches OnBranch. Not
// started, the session is what issue 17 found: the octez peer ignores its
// branch (Inactive_chain).
func TestSessionActivatesWithOctez(t *testing.T) {
	for _, start := range []bool{true, false} {
		t.Run(map[bool]string{true: "started", false: "not started"}[start], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chain := octeztest.NewChain("SHELLTEST", 40)
				nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
				peer, err := octeztest.New(context.Background(), octeztest.Config{Chain: chain, Pool: p2ppool.Config{Dialer: nw.NewHost()}})
				require.NoError(t, err)
				side := runShell(t, nw, peer, []*octeztest.Chain{chain}, start, nil)

				assert.Equal(t, handled{tezos.TagGetCurrentBranch, tezos.Answered}, side.next(t))
				synctest.Wait()
				r, ok := peer.Remote(side.id)
				require.True(t, ok)
				if !start {
					assert.Nil(t, r.Branch, "octez ignores the branch of a chain we did not activate")
					assert.Equal(t, 1, r.Counters.InactiveChain)
					assert.Empty(t, r.Active)
					return
				}
				assert.Equal(t, handled{tezos.TagCurrentBranch, tezos.Accepted}, side.next(t))
				require.NotNil(t, r.Branch)
				_, _, head := chain.Head()
				assert.Equal(t, head, r.Branch.CurrentHead)
				assert.Equal(t, []tezos.ChainID{chain.ID}, r.Active)
				assert.Zero(t, r.Counters.InactiveChain)
				// Our locator steps as octez's: 10 steps of 1, then 2.
				assert.Equal(t, chain.Hashes[38], r.Branch.History[0])
				assert.Equal(t, chain.Hashes[29], r.Branch.History[9])
				assert.Equal(t, chain.Hashes[27], r.Branch.History[10])
				assert.Equal(t, chain.Genesis(), r.Branch.History[len(r.Branch.History)-1])
				l := <-side.branches
				assert.Equal(t, head, l.CurrentHead)
			})
		})
	}
}

// TestSessionGatesAsOctez drives our Session from the octez test peer:
// heads of a chain the peer has not activated are ignored, answered once
// it has, ignored again after its Deactivate; chains we do not serve are
// ignored; Get_checkpoint and Get_predecessor_header are answered
// without activation; a third Get_current_head within 4 s is throttled.
func TestSessionGatesAsOctez(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		x, y := octeztest.NewChain("SHELLTEST", 12), octeztest.NewChain("SHELLTEST_Y", 5)
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		peer, err := octeztest.New(ctx, octeztest.Config{Chain: x, Pool: p2ppool.Config{Dialer: nw.NewHost()}})
		require.NoError(t, err)
		side := runShell(t, nw, peer, []*octeztest.Chain{x, y}, true, nil)
		assert.Equal(t, handled{tezos.TagGetCurrentBranch, tezos.Answered}, side.next(t)) // x, by the peer
		assert.Equal(t, handled{tezos.TagCurrentBranch, tezos.Accepted}, side.next(t))
		synctest.Wait()
		send := func(m tezos.Message) tezos.Verdict {
			t.Helper()
			require.NoError(t, peer.Send(ctx, side.id, m))
			h := side.next(t)
			require.Equal(t, m.Tag(), h.tag)
			return h.verdict
		}
		// received waits out the throttles of both sides (the peer's
		// reader sleeps on a second Current_branch within 4 s), then
		// says how many of tag the peer has received.
		received := func(tag uint16) int {
			time.Sleep(10 * time.Second)
			synctest.Wait()
			r, _ := peer.Remote(side.id)
			return r.Received[tag]
		}

		// y is served but not activated by the peer.
		assert.Equal(t, tezos.Inactive, send(tezos.GetCurrentHead{ChainID: y.ID}))
		assert.Equal(t, tezos.Inactive, send(tezos.CurrentHead{ChainID: y.ID, Header: y.Headers[2]}))
		assert.Equal(t, tezos.Inactive, send(tezos.Deactivate{ChainID: y.ID}))
		assert.Zero(t, received(tezos.TagCurrentHead))
		assert.Equal(t, tezos.Answered, send(tezos.GetCurrentBranch{ChainID: y.ID}))
		assert.Equal(t, tezos.Answered, send(tezos.GetCurrentHead{ChainID: y.ID}))
		assert.Equal(t, 1, received(tezos.TagCurrentHead))
		assert.Equal(t, tezos.Accepted, send(tezos.Deactivate{ChainID: y.ID}))
		assert.Equal(t, tezos.Inactive, send(tezos.GetCurrentHead{ChainID: y.ID}))
		assert.Equal(t, 1, received(tezos.TagCurrentHead))
		r, _ := peer.Remote(side.id)
		assert.Equal(t, 2, r.Counters.InactiveChain,
			"octez serves x only, so our Start's Get_current_branch for y activated nothing there: our y branch and head are ignored")

		// A chain we do not serve.
		z := tezos.ChainIDOf(tezos.BlockHash{3})
		assert.Equal(t, tezos.NotServed, send(tezos.GetCurrentBranch{ChainID: z}))
		assert.Equal(t, tezos.NotServed, send(tezos.GetCheckpoint{ChainID: z}))
		assert.Equal(t, tezos.Inactive, send(tezos.GetCurrentHead{ChainID: z}))

		// Answered whatever the activation.
		assert.Equal(t, tezos.Answered, send(tezos.GetCheckpoint{ChainID: y.ID}))
		assert.Equal(t, 1, received(tezos.TagCheckpoint))
		assert.Equal(t, tezos.Answered, send(tezos.GetPredecessorHeader{Block: y.Hashes[4], Offset: 3}))
		assert.Equal(t, 1, received(tezos.TagPredecessorHeader))
		assert.Equal(t, tezos.Unknown, send(tezos.GetPredecessorHeader{Block: y.Hashes[4], Offset: 5}), "past genesis")
		assert.Equal(t, tezos.Unknown, send(tezos.GetPredecessorHeader{Block: y.Hashes[4], Offset: -1}))
		assert.Equal(t, 1, received(tezos.TagPredecessorHeader))
		assert.Equal(t, tezos.Answered, send(tezos.GetBlockHeaders{Hashes: []tezos.BlockHash{{1}, y.Hashes[1]}}))
		assert.Equal(t, tezos.Unknown, send(tezos.GetOperations{Hashes: []tezos.OperationHash{{1}}}))

		// Responses are not the shell's.
		assert.Equal(t, tezos.Response, send(tezos.BlockHeaderMessage{Header: x.Headers[1]}))

		// The throttle: x's Get_current_head at octez's 1 per 4 s, a
		// burst of 2.
		time.Sleep(time.Minute)
		assert.Equal(t, tezos.Answered, send(tezos.GetCurrentHead{ChainID: x.ID}))
		assert.Equal(t, tezos.Answered, send(tezos.GetCurrentHead{ChainID: x.ID}))
		assert.Equal(t, tezos.Throttled, send(tezos.GetCurrentHead{ChainID: x.ID}))
		time.Sleep(4 * time.Second)
		assert.Equal(t, tezos.Answered, send(tezos.GetCurrentHead{ChainID: x.ID}))
	})
}

func TestNewShellRefusesBadConfig(t *testing.T) {
	store := chainStore{}
	for _, cfg := range []tezos.ShellConfig{
		{Store: store},
		{Chains: []tezos.ChainID{{1}}},
		{Chains: []tezos.ChainID{{1}}, Store: store, MaxClockDrift: -1},
		{Chains: []tezos.ChainID{{1}}, Store: store, Throttle: map[uint16]p2ppool.RateLimit{0x99: {Rate: 1, Burst: 1}}},
		{Chains: []tezos.ChainID{{1}}, Store: store, Throttle: map[uint16]p2ppool.RateLimit{tezos.TagGetCurrentHead: {}}},
	} {
		_, err := tezos.NewShell(cfg)
		assert.ErrorIs(t, err, tezos.ErrShellConfig)
	}
}
