package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
	"github.com/p2ppool/p2ppool/tezos"
)

// "node sync" follows a network to its current head and fetches the
// header chain back to genesis from peers it does not trust, verifying
// every header and every link; it writes the chain as JSON lines.
//
// How it goes, as octez's bootstrap does it (src/lib_shell/
// bootstrap_pipeline.ml: the locator's steps fetched in parallel, each
// walked back along predecessor links):
//
//  1. It connects to the -peer points and behaves as an octez shell on
//     each connection (a tezos.Session): it sends Get_current_branch,
//     which activates the chain on the peer's side (p2p_reader.ml
//     362-365); the peer's Current_branch gives its head header and a
//     locator, hashes of the head's ancestors at growing distances
//     (lib_base/block_locator.ml 101-148).
//  2. It takes the highest head announced, and fetches the headers of
//     its locator's hashes (the requester checks each hashes to what was
//     asked): they are anchors, hints of where the chain passes, not yet
//     trusted.
//  3. Each stretch between two anchors is a segment, walked back from its
//     top one predecessor at a time (each fetch verified by hash, its
//     level one below); segments are walked at once by several workers,
//     over every peer the requester knows. A segment is complete when its
//     last header names the anchor below as predecessor, one level down.
//  4. Before writing, the whole chain is checked again from genesis up:
//     level i at position i, each predecessor the hash below, genesis
//     the configured hash.
//
// What it does not check: consensus (fitness, endorsements, signatures),
// the protocol's validation of blocks, operations (not fetched).

// syncOptions are the flags of "node sync".
type syncOptions struct {
	identity, out, chain, genesis string
	peers                         []string
	pow                           float64
	timeout, requestTimeout       time.Duration
	log                           cli.LogFlags

	// Set by tests only.
	dialer        p2ppool.Dialer // nil: the net package
	progressEvery time.Duration  // zero: syncProgressEvery
}

const (
	// syncProgressEvery is how often the progress line is written.
	syncProgressEvery = time.Second
	// syncBranchWait bounds the wait for the branches of the peers
	// connected, once every dial is over: the highest head among those
	// received by then is followed.
	syncBranchWait = 5 * time.Second
	// syncMaxWorkers bounds the segments walked at once; with
	// syncWorkersPerPeer per connected peer below that.
	syncMaxWorkers     = 64
	syncWorkersPerPeer = 4
)

// runSync implements "node sync".
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code := parseSyncFlags(args, stderr)
	if opts == nil {
		return code
	}
	return syncChain(ctx, opts, stdout, stderr)
}

// parseSyncFlags parses the command line of "node sync". On failure or
// -h it returns nil and the exit code.
func parseSyncFlags(args []string, stderr io.Writer) (*syncOptions, int) {
	var o syncOptions
	flags := flag.NewFlagSet("node sync", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.identity, "identity", "", "identity `FILE`, created at -pow difficulty if missing")
	flags.Float64Var(&o.pow, "pow", p2ppool.DefaultNodeProofOfWork,
		"proof-of-work difficulty in `BITS` that peers must meet and a new identity is made at")
	cli.PeerFlag(flags, &o.peers, "peer", "fetch from `HOST:PORT[#PEER_ID]` (repeatable, at least one)")
	flags.StringVar(&o.out, "out", "", "write the headers to `FILE` as JSON lines, genesis first (written atomically, on success only)")
	flags.StringVar(&o.chain, "chain", "mainnet",
		"chain `NAME` announced, or a network (mainnet, ghostnet) whose chain name and genesis are used")
	flags.StringVar(&o.genesis, "genesis", "", "genesis block `HASH` (B...); default: the built-in network of -chain")
	flags.DurationVar(&o.timeout, "timeout", 0, "bound of the whole sync (0: none)")
	flags.DurationVar(&o.requestTimeout, "request-timeout", tezos.DefaultRequestTimeout,
		"how long a peer gets to answer a request before it is asked of another")
	o.log.Register(flags)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: node sync -identity FILE -peer HOST:PORT[#PEER_ID]... -out FILE [-chain NAME] [-genesis HASH]")
		fmt.Fprintln(stderr, "                 [-pow BITS] [-timeout D] [-request-timeout D] [-log-level LEVEL] [-log-format text|json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Follows the network from the -peer points to its current head and fetches the")
		fmt.Fprintln(stderr, "header chain back to genesis from several peers at once, checking that every")
		fmt.Fprintln(stderr, "header hashes to its hash, names the one below as predecessor, one level down,")
		fmt.Fprintln(stderr, "down to the genesis. Peers that send headers failing the checks are")
		fmt.Fprintln(stderr, "greylisted. No consensus, signature or protocol check is made, and no")
		fmt.Fprintln(stderr, "operation is fetched. Exits 0 once the chain is complete and written.")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if code, ok := cli.Parse(flags, args); !ok {
		return nil, code
	}
	o.chain = cli.ChainName(o.chain)
	_, isNetwork := tezos.LookupNetwork(o.chain)
	bad := func(format string, args ...any) (*syncOptions, int) {
		return nil, cli.UsageError(stderr, flags.Name(), format, args...)
	}
	switch {
	case flags.NArg() > 0:
		return bad("unexpected argument %q", flags.Arg(0))
	case o.identity == "" || o.out == "":
		return bad("-identity and -out are required")
	case len(o.peers) == 0:
		return bad("at least one -peer is required")
	case math.IsNaN(o.pow) || o.pow < 0 || o.pow > 256:
		return bad("-pow must be between 0 and 256, got %v", o.pow)
	case o.chain == "":
		return bad("-chain must not be empty")
	case o.genesis == "" && !isNetwork:
		return bad("-chain %q is no built-in network: give its -genesis", o.chain)
	case o.timeout < 0 || o.requestTimeout <= 0:
		return bad("-timeout must not be negative, -request-timeout must be positive")
	}
	if o.genesis != "" {
		if _, err := tezos.ParseBlockHash(o.genesis); err != nil {
			return bad("-genesis: %v", err)
		}
	}
	if err := cli.CheckFileDir("-out", o.out); err != nil {
		return bad("%v", err)
	}
	return &o, exitOK
}

// syncTarget is the chain synced: its name, genesis and chain id.
type syncTarget struct {
	name    string
	genesis tezos.BlockHash
	// genesisHeader is the genesis header when known (a built-in
	// network whose genesis context is known); else it is fetched and
	// checked by its shape.
	genesisHeader *tezos.BlockHeader
	id            tezos.ChainID
}

func targetOf(o *syncOptions) syncTarget {
	t := syncTarget{name: o.chain}
	nw, isNetwork := tezos.LookupNetwork(o.chain)
	if isNetwork {
		// -chain mainnet announces TEZOS_MAINNET (octez
		// lib_node_config/config_file.ml 119, 173).
		t.name, t.genesis = nw.ChainName, nw.Genesis
	}
	if o.genesis != "" {
		t.genesis, _ = tezos.ParseBlockHash(o.genesis) // checked by parseSyncFlags
	}
	if h, ok := nw.GenesisHeader(); isNetwork && ok && t.genesis == nw.Genesis {
		t.genesisHeader = &h
	}
	t.id = tezos.ChainIDOf(t.genesis)
	return t
}

type (
	syncPool = p2ppool.BasicPool[tezos.Message]
	syncConn = p2ppool.BasicConnection[tezos.Message]
)

// syncChain runs a parsed "node sync".
func syncChain(ctx context.Context, opts *syncOptions, stdout, stderr io.Writer) int {
	errw := &lineWriter{w: stderr}
	id, code := loadOrCreateIdentity(ctx, "node sync", opts.identity, opts.pow, errw)
	if id == nil {
		return code
	}
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.timeout, errSyncTimeout)
		defer cancel()
	}
	target := targetOf(opts)
	s, err := newSyncer(opts, id, target, errw)
	if err != nil {
		fmt.Fprintf(errw, "node sync: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(errw, "node sync: chain %s, id %v, genesis %v, as %v\n", target.name, target.id, target.genesis, id.PeerID)
	chain, err := s.run(ctx)
	s.close()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, context.Canceled) {
			fmt.Fprintln(errw, "node sync: interrupted")
			return exitInterrupted
		}
		fmt.Fprintf(errw, "sync: %v\n", err)
		return exitFailure
	}
	if err := writeHeaders(opts.out, chain); err != nil {
		fmt.Fprintf(errw, "node sync: %v\n", err)
		return exitFailure
	}
	head := chain[len(chain)-1]
	fmt.Fprintf(stdout, "synced %d headers, genesis to head %v at level %d, into %s\n", len(chain), head.hash, head.level, opts.out)
	return exitOK
}

// errSyncTimeout is the cause of the context of a sync past -timeout.
var errSyncTimeout = errors.New("-timeout reached")

// syncEntry is one verified header as kept until written: about 100
// bytes plus the header's bytes (mainnet's are 150 to 300 bytes), so
// about 350 bytes per block; each header is kept once.
type syncEntry struct {
	level      int32
	hash, pred tezos.BlockHash
	from       p2ppool.PeerID // the peer that sent it; zero for the head and a local genesis
	raw        []byte
}

// entryOf is the entry of a verified header.
func entryOf(f tezos.FetchedHeader) syncEntry {
	return syncEntry{level: f.Header.Shell.Level, hash: f.Hash, pred: f.Header.Shell.Predecessor, from: f.From, raw: f.Raw}
}

// branch is a peer's Current_branch.
type branch struct {
	peer    p2ppool.PeerID
	locator tezos.BlockLocator
}

// syncer is one "node sync": its pool, requester and shell, and the
// goroutines it owns.
type syncer struct {
	// Immutable after newSyncer.
	opts   *syncOptions
	target syncTarget
	errw   *lineWriter
	pool   *syncPool
	req    *tezos.Requester
	shell  *tezos.Shell

	// readers are the per-connection readers, started by the pool's
	// hook; once the pool is closed none is added.
	readers sync.WaitGroup

	// fetched counts the headers fetched and verified so far.
	fetched atomic.Int64

	mu sync.Mutex
	// Guarded by mu.
	conns    map[p2ppool.PeerID]bool // peers connected now
	branches map[p2ppool.PeerID]branch
	changed  chan struct{} // closed and replaced on a branch or a connection change
	segs     []*segment    // top first, once walking has begun
}

func newSyncer(opts *syncOptions, id *p2ppool.Identity, target syncTarget, errw *lineWriter) (*syncer, error) {
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(target.name), p2ppool.Config{
		Identity:          id,
		ProofOfWorkTarget: difficulty(opts.pow),
		Dialer:            opts.dialer,
		Logger:            opts.log.Logger(errw),
		// The sync dials its -peer points only.
		Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
		// A message of a newer shell kind is dropped, not held against
		// the peer.
		Wire: p2ppool.WireConfig{UnknownMessages: p2ppool.UnknownMessagesIgnore},
	})
	if err != nil {
		return nil, err
	}
	s := &syncer{
		opts: opts, target: target, errw: errw, pool: pool,
		conns: map[p2ppool.PeerID]bool{}, branches: map[p2ppool.PeerID]branch{}, changed: make(chan struct{}),
	}
	s.req, err = tezos.NewRequester(syncGreylist{s}, tezos.RequesterConfig{
		Timeout: opts.requestTimeout, Genesis: target.genesis, GenesisHeader: target.genesisHeader,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.shell, err = tezos.NewShell(tezos.ShellConfig{
		Chains:   []tezos.ChainID{target.id},
		Store:    syncStore{target},
		OnBranch: s.onBranch,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	pool.Conns().OnNew(func(c *syncConn) { s.readers.Go(func() { s.read(c) }) })
	return s, nil
}

// syncGreylist greylists in the pool the peers the requester catches
// sending data that fails verification, and says so.
type syncGreylist struct{ s *syncer }

func (g syncGreylist) GreylistPeer(id p2ppool.PeerID) error {
	fmt.Fprintf(g.s.errw, "node sync: greylisted %v: it answered with data that failed verification\n", id)
	return g.s.pool.ACL().GreylistPeer(id)
}

// close ends the requester's fetches, closes the pool and waits for every
// reader.
func (s *syncer) close() {
	s.req.Close()
	s.pool.Close()
	s.readers.Wait()
}

// syncStore is what the sync serves its peers: the genesis, as its head,
// when its header is known (octez answers with its store's head,
// p2p_reader.ml 362-383).
type syncStore struct{ t syncTarget }

func (st syncStore) Head(chain tezos.ChainID) (tezos.BlockHeader, bool) {
	if chain != st.t.id || st.t.genesisHeader == nil {
		return tezos.BlockHeader{}, false
	}
	return *st.t.genesisHeader, true
}

func (st syncStore) Header(h tezos.BlockHash) (tezos.BlockHeader, bool) {
	if h != st.t.genesis || st.t.genesisHeader == nil {
		return tezos.BlockHeader{}, false
	}
	return *st.t.genesisHeader, true
}

// read is c's reader: it starts c's shell session (Get_current_branch,
// p2p_reader.ml 806-820), makes c a peer of the requester, and hands each
// message to the requester (answers) or to the session (the rest).
func (s *syncer) read(c *syncConn) {
	id := c.Peer()
	s.mu.Lock()
	s.conns[id] = true
	s.signalLocked()
	s.mu.Unlock()
	defer func() {
		s.req.RemovePeer(id)
		s.mu.Lock()
		delete(s.conns, id)
		s.signalLocked()
		s.mu.Unlock()
	}()
	session := s.shell.Attach(c)
	s.req.AddPeer(c)
	if err := session.Start(c.Context()); err != nil {
		return
	}
	for {
		m, err := c.Read(context.Background()) // ends with c
		if err != nil {
			return
		}
		if !s.req.Handle(c, m) {
			session.Handle(m)
		}
	}
}

// onBranch keeps a peer's Current_branch (the session gives only those of
// the chain, activated, not in the future).
func (s *syncer) onBranch(peer p2ppool.PeerID, _ tezos.ChainID, l tezos.BlockLocator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.branches[peer] = branch{peer: peer, locator: l}
	s.signalLocked()
}

// signalLocked wakes the waits for a change. s.mu must be held.
func (s *syncer) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// run connects, finds the head and fetches the chain; it returns the
// chain, genesis first, verified.
func (s *syncer) run(ctx context.Context) ([]syncEntry, error) {
	var dialers sync.WaitGroup
	failed := make([]error, len(s.opts.peers))
	for i, addr := range s.opts.peers {
		dialers.Go(func() {
			failed[i] = dialWithRetry(ctx, "node sync", addr, s.errw, func(ctx context.Context, addr string) error {
				_, err := s.pool.ConnectPoint(ctx, addr)
				return err
			})
		})
	}
	dialers.Wait()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	head, err := s.waitHead(ctx)
	if err != nil {
		return nil, err
	}
	chain, err := s.fetchChain(ctx, head)
	if err != nil && ctx.Err() != nil {
		// Past -timeout: say how far it got and who was being asked.
		s.mu.Lock()
		conns := slices.SortedFunc(maps.Keys(s.conns), func(a, b p2ppool.PeerID) int { return strings.Compare(a.String(), b.String()) })
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %d headers fetched, down to level %d of %d; peers still connected: %s",
			context.Cause(ctx), s.fetched.Load(), s.levelReached(), head.entry.level, peerList(conns))
	}
	return chain, err
}

// headChoice is the head followed: its header and hash, the peers that
// announced it, and the locator of the first of them.
type headChoice struct {
	entry   syncEntry
	peers   []p2ppool.PeerID
	locator tezos.BlockLocator
}

// waitHead waits for a branch from every peer connected, up to
// syncBranchWait (longer if none has come), and picks the highest head:
// at the highest level, the one most peers announced.
func (s *syncer) waitHead(ctx context.Context) (headChoice, error) {
	t := time.NewTimer(syncBranchWait)
	defer t.Stop()
	waited := false
	for {
		s.mu.Lock()
		conns, changed := len(s.conns), s.changed
		all := conns > 0
		for id := range s.conns {
			if _, ok := s.branches[id]; !ok {
				all = false
			}
		}
		nb := len(s.branches)
		s.mu.Unlock()
		if all || (waited && nb > 0) {
			break
		}
		select {
		case <-changed:
		case <-t.C:
			waited = true
			if conns == 0 && nb == 0 {
				return headChoice{}, errors.New("no peer connected")
			}
		case <-ctx.Done():
			return headChoice{}, fmt.Errorf("no peer gave its current branch: %w", context.Cause(ctx))
		}
	}
	s.mu.Lock()
	branches := make([]branch, 0, len(s.branches))
	for _, b := range s.branches {
		branches = append(branches, b)
	}
	s.mu.Unlock()
	slices.SortFunc(branches, func(a, b branch) int { return strings.Compare(a.peer.String(), b.peer.String()) })
	byHash := map[tezos.BlockHash]*headChoice{}
	var best *headChoice
	for _, b := range branches {
		raw, err := tezos.BlockHeaderCodec.Encode(nil, &b.locator.CurrentHead)
		if err != nil {
			continue
		}
		hash, _ := b.locator.CurrentHead.Hash()
		c := byHash[hash]
		if c == nil {
			h := b.locator.CurrentHead.Shell
			c = &headChoice{entry: syncEntry{level: h.Level, hash: hash, pred: h.Predecessor, raw: raw}, locator: b.locator}
			byHash[hash] = c
		}
		c.peers = append(c.peers, b.peer)
		if best == nil || c.entry.level > best.entry.level ||
			(c.entry.level == best.entry.level && len(c.peers) > len(best.peers)) {
			best = c
		}
	}
	if best == nil {
		return headChoice{}, errors.New("no peer gave a usable current branch")
	}
	if best.entry.level < 0 {
		return headChoice{}, fmt.Errorf("head %v at level %d announced by %s", best.entry.hash, best.entry.level, peerList(best.peers))
	}
	return *best, nil
}
