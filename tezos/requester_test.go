package tezos

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// testChain is a chain as an octez node's store holds it: headers by
// hash, linked by their predecessors down to a genesis whose hash is
// fixed by configuration (block_repr.ml 67-100), and the operations of
// each block by validation pass.
type testChain struct {
	genesis BlockHash
	levels  []BlockHash // hash at each level, genesis first
	headers map[BlockHash]BlockHeader
	ops     map[BlockHash][][]Operation
}

// makeChain builds n blocks above mainnet's genesis, each with four
// validation passes of a few operations.
func makeChain(t testing.TB, n int) *testChain {
	t.Helper()
	mainnet, _ := LookupNetwork("mainnet")
	g, ok := mainnet.GenesisHeader()
	require.True(t, ok)
	c := &testChain{genesis: mainnet.Genesis, headers: map[BlockHash]BlockHeader{mainnet.Genesis: g}, ops: map[BlockHash][][]Operation{}}
	c.levels = append(c.levels, mainnet.Genesis)
	for level := 1; level <= n; level++ {
		pred := c.levels[level-1]
		var passes [][]Operation
		var lists []OperationListHash
		for pass := range 4 {
			var ops []Operation
			var hs []OperationHash
			for k := range (level + pass) % 3 {
				op := Operation{Branch: pred, Data: []byte{byte(level), byte(pass), byte(k)}}
				ops = append(ops, op)
				hs = append(hs, op.Hash())
			}
			passes = append(passes, ops)
			lists = append(lists, OperationListHashOf(hs))
		}
		h := BlockHeader{Shell: ShellHeader{
			Level: int32(level), Proto: 1, Predecessor: pred, Timestamp: g.Shell.Timestamp + int64(level)*30,
			ValidationPasses: 4, OperationsHash: OperationsHashOf(lists), Fitness: [][]byte{{byte(level)}},
		}, ProtocolData: []byte("block")}
		hash, err := h.Hash()
		require.NoError(t, err)
		c.levels = append(c.levels, hash)
		c.headers[hash] = h
		c.ops[hash] = passes
	}
	return c
}

// lie is how a scripted peer departs from octez.
type lie int

const (
	honest           lie = iota
	silent               // answers nothing
	badHash              // answers Get_block_headers with a header that is not the one asked
	badPath              // answers Get_operations_for_blocks with a list its path does not lead to
	wrongLevel           // answers Get_predecessor_header with a header of another level
	wrongBranch          // answers Get_predecessor_header 1 with another block of the same level
	unsolicited          // sends answers nobody asked for, then answers as octez
	extraHeaders         // answers Get_block_headers, and adds a header not asked
	forgedGenesis        // answers for the genesis with a header of another shape
	notFound             // has no block at all (octez's Unadvertised: silence)
	truncatedAnswers     // answers only the first hash asked
)

// octezPeer is the far end: a peer that answers the requests of
// p2p_reader.ml from its store, as octez does, unless it lies.
//   - Get_block_headers (p2p_reader.ml 474-488): for each hash, the
//     Block_header if the block is in its store, else nothing
//     (Unadvertised Block); never throttled (make_throttle_state:
//     get_block_headers = no_throttle).
//   - Get_operations_for_blocks (p2p_reader.ml 589-603): for each (block,
//     pass) of a block it has, Operations_for_blocks with the pass's
//     operations and their path (Store.Block.operations_path), else
//     nothing.
//   - Get_predecessor_header (p2p_reader.ml 673-687): the header at
//     distance offset below the block if it has it, else nothing.
//   - Every other message: nothing that matters here.
type octezPeer struct {
	chain *testChain
	lie   lie
	id    p2ppool.PeerID
	host  *p2ppooltest.Host
	pool  *p2ppool.BasicPool[Message]
	conn  *p2ppool.BasicConnection[Message]
	asked int // requests received, read after synctest.Wait
}

func (p *octezPeer) serve(ctx context.Context) {
	for {
		m, err := p.conn.Read(ctx)
		if err != nil {
			return
		}
		p.asked++
		for _, a := range p.answer(m) {
			if p.conn.Write(ctx, a) != nil {
				return
			}
		}
	}
}

// answer returns what the peer sends for m.
func (p *octezPeer) answer(m Message) []Message {
	if p.lie == silent {
		return nil
	}
	var out []Message
	if p.lie == unsolicited {
		// A header and an operation list nobody asked for.
		h := p.chain.levels[len(p.chain.levels)-1]
		out = append(out, BlockHeaderMessage{Header: p.chain.headers[h]}, OperationsForBlocks{BlockPass: BlockPass{Block: h, Pass: 0}})
	}
	switch m := m.(type) {
	case GetBlockHeaders:
		for i, hash := range m.Hashes {
			h, ok := p.chain.headers[hash]
			if !ok || p.lie == notFound || (p.lie == truncatedAnswers && i > 0) {
				continue // Unadvertised Block: nothing sent
			}
			switch p.lie {
			case badHash:
				h.Shell.Timestamp++
			case forgedGenesis:
				if hash == p.chain.genesis {
					h.Shell.Level = 1
				}
			}
			out = append(out, BlockHeaderMessage{Header: h})
		}
		if p.lie == extraHeaders {
			// A block of a fork, which nobody asked for.
			fork := p.chain.headers[p.chain.levels[1]]
			fork.ProtocolData = []byte("fork")
			out = append(out, BlockHeaderMessage{Header: fork})
		}
	case GetOperationsForBlocks:
		for _, bp := range m.Requests {
			passes, ok := p.chain.ops[bp.Block]
			if !ok || p.lie == notFound || int(bp.Pass) >= len(passes) || bp.Pass < 0 {
				continue
			}
			lists := make([]OperationListHash, len(passes))
			for i, ops := range passes {
				hs := make([]OperationHash, len(ops))
				for k := range ops {
					hs[k] = ops[k].Hash()
				}
				lists[i] = OperationListHashOf(hs)
			}
			ops := passes[bp.Pass]
			if p.lie == badPath {
				ops = append(slices.Clone(ops), Operation{Data: []byte("forged")})
			}
			out = append(out, OperationsForBlocks{BlockPass: bp, Path: OperationsPathOf(lists, int(bp.Pass)), Operations: ops})
		}
	case GetPredecessorHeader:
		h, ok := p.chain.headers[m.Block]
		if !ok || p.lie == notFound {
			break
		}
		level := int(h.Shell.Level) - int(m.Offset)
		if level < 0 || m.Offset < 0 {
			break
		}
		switch p.lie {
		case wrongLevel:
			level++
		}
		ph := p.chain.headers[p.chain.levels[level]]
		if p.lie == wrongBranch {
			ph.ProtocolData = []byte("fork")
		}
		out = append(out, PredecessorHeader{Block: m.Block, Offset: m.Offset, Header: ph})
	}
	return out
}

// reqNode is the node under test: a pool whose read loop hands answers
// to a Requester, as an application does.
type reqNode struct {
	pool *p2ppool.BasicPool[Message]
	req  *Requester
	host *p2ppooltest.Host
	addr string
	// Messages the requester did not take, by type.
	mu     sync.Mutex
	others []Message
}

func startReqNode(t *testing.T, nw *p2ppooltest.Network, cfg RequesterConfig) *reqNode {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	pool, err := p2ppool.NewBasic(MessageConfig("TEZOS_MAINNET"), p2ppool.Config{
		Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
	})
	require.NoError(t, err)
	req, err := NewRequester(pool.ACL(), cfg)
	require.NoError(t, err)
	n := &reqNode{pool: pool, req: req, host: nw.NewHost()}
	require.NoError(t, pool.Conns().OnNew(func(c *p2ppool.BasicConnection[Message]) { req.AddPeer(c) }))
	ln, err := n.host.Listen("tcp", ":9732")
	require.NoError(t, err)
	n.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Serve(ln) })
	wg.Go(func() {
		for {
			c, m, err := pool.Read(context.Background())
			if err != nil {
				return
			}
			if !req.Handle(c, m) {
				n.mu.Lock()
				n.others = append(n.others, m)
				n.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		_ = req.Close()
		_ = pool.Close()
		wg.Wait()
	})
	return n
}

// addPeer connects a scripted peer from its own host and serves it.
func addPeer(t *testing.T, nw *p2ppooltest.Network, n *reqNode, chain *testChain, l lie) *octezPeer {
	t.Helper()
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	host := nw.NewHost()
	pool, err := p2ppool.NewBasic(MessageConfig("TEZOS_MAINNET"), p2ppool.Config{
		Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: host, Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
	})
	require.NoError(t, err)
	conn, err := pool.ConnectPoint(context.Background(), n.addr)
	require.NoError(t, err)
	p := &octezPeer{chain: chain, lie: l, id: id.PeerID, host: host, pool: pool, conn: conn}
	var wg sync.WaitGroup
	wg.Go(func() { p.serve(context.Background()) })
	t.Cleanup(func() {
		_ = pool.Close()
		wg.Wait()
	})
	synctest.Wait() // the node has added it
	return p
}

func (n *reqNode) greylisted(p *octezPeer) bool {
	return slices.Contains(n.pool.ACL().List().GreylistedPeers, p.id)
}

func TestRequesterFetchHeaders(t *testing.T) {
	chain := makeChain(t, 30)
	want := chain.levels[1:]
	tests := []struct {
		name       string
		liars      []lie
		greylisted bool // the liar is greylisted (else only passed over)
	}{
		{"honest only", nil, false},
		{"bad hash", []lie{badHash}, true},
		{"extra header while owing answers", []lie{extraHeaders}, true},
		{"no answer", []lie{silent}, false},
		{"blocks unknown", []lie{notFound}, false},
		{"part of the answers", []lie{truncatedAnswers}, false},
		{"two liars", []lie{badHash, silent}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
				n := startReqNode(t, nw, RequesterConfig{Timeout: 2 * time.Second, Attempts: 4})
				var liars []*octezPeer
				for _, l := range tt.liars {
					liars = append(liars, addPeer(t, nw, n, chain, l))
				}
				good := addPeer(t, nw, n, chain, honest)

				start := time.Now()
				got, err := n.req.FetchHeaders(context.Background(), want)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for i, f := range got {
					assert.Equal(t, want[i], f.Hash)
					assert.Equal(t, chain.headers[want[i]], f.Header)
					raw, err := BlockHeaderCodec.Encode(nil, &f.Header)
					require.NoError(t, err)
					assert.Equal(t, raw, f.Raw)
					// From names the sender: one of the peers (a partial
					// liar's true answers count too).
					senders := []p2ppool.PeerID{good.id}
					for _, l := range liars {
						senders = append(senders, l.id)
					}
					assert.Contains(t, senders, f.From, "From names the sender")
				}
				elapsed := time.Since(start)
				if len(tt.liars) == 0 {
					assert.Less(t, elapsed, time.Second, "no timeout waited")
				}
				synctest.Wait()
				if tt.greylisted {
					assert.True(t, n.greylisted(liars[0]), "the liar is greylisted")
					assert.NotZero(t, n.req.Stats().Invalid)
				}
				for i, l := range liars {
					if tt.liars[i] != badHash && tt.liars[i] != extraHeaders {
						assert.False(t, n.greylisted(l), "peer %d (%v) is not greylisted: silence is octez's answer for unknown blocks", i, tt.liars[i])
					}
				}
				assert.False(t, n.greylisted(good))
				assert.Zero(t, n.req.Stats().InFlight)
			})
		})
	}
}

// TestRequesterPipelines: 30 headers from 2 honest peers go as 3
// requests of 10, in flight together, and are answered in the time of
// one round trip.
func TestRequesterPipelines(t *testing.T) {
	chain := makeChain(t, 30)
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n := startReqNode(t, nw, RequesterConfig{})
		a := addPeer(t, nw, n, chain, honest)
		b := addPeer(t, nw, n, chain, honest)
		for _, p := range []*octezPeer{a, b} {
			// 50 ms each way.
			nw.SetFaults(p.host, n.host, p2ppooltest.Faults{Latency: 50 * time.Millisecond})
			nw.SetFaults(n.host, p.host, p2ppooltest.Faults{Latency: 50 * time.Millisecond})
		}
		start := time.Now()
		_, err := n.req.FetchHeaders(context.Background(), chain.levels[1:])
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 150*time.Millisecond, "one round trip, not three")
		assert.Equal(t, uint64(3), n.req.Stats().Requests)
		assert.Equal(t, 3, a.asked+b.asked)
		assert.NotZero(t, a.asked)
		assert.NotZero(t, b.asked)
	})
}

func TestRequesterOnlyLiars(t *testing.T) {
	chain := makeChain(t, 3)
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n := startReqNode(t, nw, RequesterConfig{Timeout: time.Second})
		liar := addPeer(t, nw, n, chain, badHash)
		mute := addPeer(t, nw, n, chain, silent)
		_, err := n.req.FetchHeaders(context.Background(), chain.levels[1:])
		require.ErrorIs(t, err, ErrNoAnswer)
		var fe *FetchError
		require.ErrorAs(t, err, &fe)
		liarID := liar.id
		assert.Contains(t, fe.Tried, liarID)
		assert.Contains(t, fe.Tried, mute.id)
		assert.Equal(t, []p2ppool.PeerID{liarID}, fe.Liars)
		assert.Contains(t, err.Error(), liarID.String(), "the message names the liar")
		synctest.Wait()
		assert.True(t, n.greylisted(liar))
		assert.False(t, n.greylisted(mute))
		assert.Zero(t, n.req.Stats().InFlight)
	})
}

// TestRequesterUnsolicited: answers nobody asked for (octez counts them
// Unexpected_response, p2p_reader.ml 490-495, 608-612) are dropped and
// cost the peer nothing; its answers to what it is asked are taken.
func TestRequesterUnsolicited(t *testing.T) {
	chain := makeChain(t, 5)
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n := startReqNode(t, nw, RequesterConfig{})
		p := addPeer(t, nw, n, chain, unsolicited)
		// Unsolicited first, with nothing asked of it.
		last := chain.levels[len(chain.levels)-1]
		require.NoError(t, p.conn.Write(context.Background(), BlockHeaderMessage{Header: chain.headers[last]}))
		synctest.Wait()
		assert.Equal(t, uint64(1), n.req.Stats().Unsolicited)
		// Asked for operations, it adds a header and an empty operation
		// list nobody asked, before its answers.
		h := chain.headers[chain.levels[2]]
		ops, err := n.req.FetchOperations(context.Background(), chain.levels[2], &h)
		require.NoError(t, err)
		assert.Equal(t, chain.ops[chain.levels[2]], ops)
		synctest.Wait()
		assert.GreaterOrEqual(t, n.req.Stats().Unsolicited, uint64(3))
		assert.False(t, n.greylisted(p))
		assert.Empty(t, n.others, "every answer was the requester's")
	})
}

func TestRequesterFetchOperations(t *testing.T) {
	chain := makeChain(t, 5)
	for _, l := range []lie{honest, badPath, silent} {
		t.Run(lieName(l), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
				n := startReqNode(t, nw, RequesterConfig{Timeout: time.Second})
				var liar *octezPeer
				if l != honest {
					liar = addPeer(t, nw, n, chain, l)
				}
				addPeer(t, nw, n, chain, honest)
				for _, hash := range chain.levels[1:] {
					h := chain.headers[hash]
					got, err := n.req.FetchOperations(context.Background(), hash, &h)
					require.NoError(t, err)
					assert.Equal(t, chain.ops[hash], normalize(got))
				}
				synctest.Wait()
				if liar != nil {
					assert.Equal(t, l == badPath, n.greylisted(liar))
				}
			})
		})
	}
}

// normalize maps empty lists to nil, as the chain holds them.
func normalize(ops [][]Operation) [][]Operation {
	for i := range ops {
		if len(ops[i]) == 0 {
			ops[i] = nil
		}
	}
	return ops
}

func TestRequesterPredecessorHeader(t *testing.T) {
	chain := makeChain(t, 10)
	top := chain.levels[10]
	topH := chain.headers[top]
	for _, l := range []lie{honest, wrongLevel, wrongBranch, silent} {
		t.Run(lieName(l), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
				n := startReqNode(t, nw, RequesterConfig{Timeout: time.Second})
				var liar *octezPeer
				if l != honest {
					liar = addPeer(t, nw, n, chain, l)
				}
				addPeer(t, nw, n, chain, honest)
				got, err := n.req.FetchPredecessorHeader(context.Background(), top, topH.Shell.Level, 1, &topH.Shell.Predecessor)
				require.NoError(t, err)
				assert.Equal(t, chain.levels[9], got.Hash)
				got, err = n.req.FetchPredecessorHeader(context.Background(), top, topH.Shell.Level, 4, nil)
				require.NoError(t, err)
				assert.Equal(t, int32(6), got.Header.Shell.Level)
				synctest.Wait()
				if liar != nil {
					assert.Equal(t, l == wrongLevel || l == wrongBranch, n.greylisted(liar))
				}
			})
		})
	}
}

// TestRequesterGenesis: octez's genesis hash is not its header's hash
// (block_repr.ml 67-100). Without the header configured, the requester
// takes a peer's answer of the genesis shape for it, and refuses one of
// another shape; with it, nothing is asked.
func TestRequesterGenesis(t *testing.T) {
	chain := makeChain(t, 2)
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n := startReqNode(t, nw, RequesterConfig{Timeout: time.Second, Genesis: chain.genesis})
		forger := addPeer(t, nw, n, chain, forgedGenesis)
		addPeer(t, nw, n, chain, honest)
		got, err := n.req.FetchHeaders(context.Background(), chain.levels[:2])
		require.NoError(t, err)
		assert.Equal(t, chain.genesis, got[0].Hash)
		g := chain.headers[chain.genesis]
		graw, err := BlockHeaderCodec.Encode(nil, &g)
		require.NoError(t, err)
		assert.Equal(t, graw, got[0].Raw)
		gh, _ := got[0].Header.Hash()
		assert.NotEqual(t, chain.genesis, gh, "genesis is not its header's hash")
		assert.False(t, got[0].From.IsZero(), "a peer's genesis names it")
		assert.NotEqual(t, forger.id, got[0].From)
		synctest.Wait()
		assert.True(t, n.greylisted(forger))
	})
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		g := chain.headers[chain.genesis]
		n := startReqNode(t, nw, RequesterConfig{Genesis: chain.genesis, GenesisHeader: &g})
		p := addPeer(t, nw, n, chain, honest)
		got, err := n.req.FetchHeaders(context.Background(), chain.levels[:1])
		require.NoError(t, err)
		assert.Equal(t, g, got[0].Header)
		assert.Zero(t, p.asked)
	})
}

func TestRequesterContextAndClose(t *testing.T) {
	chain := makeChain(t, 2)
	synctest.Test(t, func(t *testing.T) {
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
		n := startReqNode(t, nw, RequesterConfig{Timeout: time.Minute})
		addPeer(t, nw, n, chain, silent)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := n.req.FetchHeaders(ctx, chain.levels[1:])
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, n.req.Stats().InFlight, "slots freed")

		done := make(chan error, 1)
		go func() {
			_, err := n.req.FetchHeaders(context.Background(), chain.levels[1:])
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, n.req.Close())
		require.ErrorIs(t, <-done, ErrRequesterClosed)
		_, err = n.req.FetchHeaders(context.Background(), chain.levels[1:])
		require.ErrorIs(t, err, ErrRequesterClosed)
	})
}

func TestRequesterNoPeer(t *testing.T) {
	r, err := NewRequester(nil, RequesterConfig{})
	require.NoError(t, err)
	_, err = r.FetchHeaders(context.Background(), []BlockHash{{1}})
	require.ErrorIs(t, err, ErrNoAnswer)
	_, err = NewRequester(nil, RequesterConfig{Timeout: -1})
	require.True(t, errors.Is(err, ErrRequesterConfig))
}

func lieName(l lie) string {
	return [...]string{"honest", "silent", "bad hash", "bad path", "wrong level", "wrong branch", "unsolicited",
		"extra headers", "forged genesis", "not found", "truncated answers"}[l]
}
