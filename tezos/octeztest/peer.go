package octeztest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
)

// Lie is a set of ways a Peer's answers are wrong. The zero Lie answers
// truthfully.
type Lie uint

const (
	// LieBadHash answers Get_block_headers and Get_predecessor_header
	// with the header asked for, its protocol data altered: its bytes do
	// not hash to the hash asked for.
	LieBadHash Lie = 1 << iota
	// LieBadOperations answers Get_operations_for_blocks with the
	// block's path but one operation altered (or one added to an empty
	// pass): the operations do not lead to the header's OperationsHash.
	LieBadOperations
	// LieSilent answers no Get_block_headers,
	// Get_operations_for_blocks nor Get_predecessor_header (but still
	// heads and branches, so a syncing client finds the peer and waits).
	LieSilent
)

// Config configures a Peer. The zero value of each field but Chain has a
// documented default.
type Config struct {
	// Chain is the chain the peer serves and whose name it announces.
	// Required.
	Chain *Chain
	// Lies makes its answers wrong; zero answers truthfully.
	Lies Lie
	// KnownInvalid are blocks the peer knows to be invalid: a
	// Current_branch or Current_head naming one costs its sender the
	// connection and a greylisting (p2p_reader.ml 392-400, 453-461).
	KnownInvalid []tezos.BlockHash
	// Pool is the configuration of the peer's pool, used as given but
	// for three fields: if Identity is nil, one is generated without
	// proof of work; if ProofOfWorkTarget is zero, the peer asks for no
	// proof of work (p2ppool.NoProofOfWork), so that test identities
	// connect; if Maintenance.IdleTime is zero, the maintenance is off
	// (p2ppool.Disabled), so that the peer dials no one on its own.
	Pool p2ppool.Config
}

// Peer is a test peer that behaves as octez's shell (see the package
// doc). Safe for concurrent use.
type Peer struct {
	// Immutable after New.
	chain   *Chain
	lies    Lie
	invalid map[tezos.BlockHash]bool
	pool    *p2ppool.BasicPool[tezos.Message]

	// readers are the per-connection readers; Close waits for them.
	// Hooks run inside the pool's goroutines only, so none is added
	// once the pool is closed.
	readers sync.WaitGroup

	mu sync.Mutex
	// Guarded by mu.
	remotes map[p2ppool.PeerID]*remote
	conns   map[p2ppool.PeerID]*conn
}

// conn is the pool's connection type for the distributed-DB set.
type conn = p2ppool.BasicConnection[tezos.Message]

// New returns a Peer serving cfg.Chain. Close it when done.
func New(ctx context.Context, cfg Config) (*Peer, error) {
	if cfg.Chain == nil {
		return nil, errors.New("octeztest: New: Config.Chain is required")
	}
	pc := cfg.Pool
	if pc.Identity == nil {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
		if err != nil {
			return nil, fmt.Errorf("octeztest: New: %w", err)
		}
		pc.Identity = id
	}
	if pc.ProofOfWorkTarget == 0 {
		pc.ProofOfWorkTarget = p2ppool.NoProofOfWork
	}
	if pc.Maintenance.IdleTime == 0 {
		pc.Maintenance.IdleTime = p2ppool.Disabled
	}
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(cfg.Chain.Name), pc)
	if err != nil {
		return nil, fmt.Errorf("octeztest: New: %w", err)
	}
	p := &Peer{
		chain:   cfg.Chain,
		lies:    cfg.Lies,
		invalid: make(map[tezos.BlockHash]bool),
		pool:    pool,
		remotes: make(map[p2ppool.PeerID]*remote),
		conns:   make(map[p2ppool.PeerID]*conn),
	}
	for _, h := range cfg.KnownInvalid {
		p.invalid[h] = true
	}
	pool.Conns().OnNew(func(c *conn) { p.readers.Go(func() { p.run(c) }) })
	return p, nil
}

// ID is the peer's peer id.
func (p *Peer) ID() p2ppool.PeerID { return p.pool.Config().Identity.PeerID }

// Chain is the chain the peer serves.
func (p *Peer) Chain() *Chain { return p.chain }

// Pool is the peer's pool, for what this package does not wrap (its ACL,
// its events).
func (p *Peer) Pool() *p2ppool.BasicPool[tezos.Message] { return p.pool }

// Serve accepts connections on ln until the peer is closed; see
// p2ppool.Pool.Serve.
func (p *Peer) Serve(ln net.Listener) error { return p.pool.Serve(ln) }

// Connect connects to point, as an octez node dials a peer.
func (p *Peer) Connect(ctx context.Context, point netip.AddrPort) error {
	_, err := p.pool.Connect(ctx, point)
	return err
}

// Send sends m to the connected remote peer id, waiting for room in the
// connection's queue (octez P2p.send). It fails with ErrNotConnected
// when no connection to it is up.
func (p *Peer) Send(ctx context.Context, id p2ppool.PeerID, m tezos.Message) error {
	p.mu.Lock()
	c := p.conns[id]
	p.mu.Unlock()
	if c == nil {
		return fmt.Errorf("octeztest: send to %v: %w", id, ErrNotConnected)
	}
	return c.Write(ctx, m)
}

// ErrNotConnected is in the chain of Send's error when the peer has no
// connection to the remote.
var ErrNotConnected = errors.New("octeztest: not connected")

// Close closes the pool and waits for every reader to end.
func (p *Peer) Close() error {
	err := p.pool.Close()
	p.readers.Wait()
	return err
}

// Counters are what octez counts of a remote peer in its peer metadata
// (shell_services Peer_metadata), as this peer counts them.
type Counters struct {
	// Requests received, of any kind (Received_request).
	Requests int
	// Answers sent (update_responses).
	Answers int
	// InactiveChain: messages ignored for a chain the remote has not
	// activated (may_handle, p2p_reader.ml 260).
	InactiveChain int
	// Unadvertised: requests for a block, operation or protocol the peer
	// does not have (481, 514, 571, 680).
	Unadvertised int
	// UnexpectedResponse: a Block_header, Operation or
	// Operations_for_blocks the peer did not ask for (494, 547, 612).
	UnexpectedResponse int
	// FutureBlock: a head or branch too far in the future (405, 465).
	FutureBlock int
	// Throttled: messages over their kind's threshold, delayed by its
	// cooldown (152-193).
	Throttled int
	// Dropped: messages dropped after their cooldown (a Get_protocols,
	// 564).
	Dropped int
}

// Remote is what a Peer keeps of one remote peer.
type Remote struct {
	// Connected: a connection to it is up.
	Connected bool
	// Active are the chains the remote activated, sorted
	// (peer_active_chains).
	Active []tezos.ChainID
	// Head is the last Current_head the peer accepted from it (octez
	// notify_head), nil if none.
	Head *tezos.BlockHeader
	// Branch is the last Current_branch the peer accepted (notify_branch),
	// nil if none.
	Branch *tezos.BlockLocator
	// Received counts the messages received, by tag.
	Received map[uint16]int
	Counters Counters
}

// remote is the mutable state behind a Remote. Guarded by Peer.mu.
type remote struct {
	connected bool
	active    map[tezos.ChainID]bool
	head      *tezos.BlockHeader
	branch    *tezos.BlockLocator
	received  map[uint16]int
	counters  Counters
}

// Remote returns what the peer keeps of remote peer id, and false if it
// never connected.
func (p *Peer) Remote(id p2ppool.PeerID) (Remote, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.remotes[id]
	if r == nil {
		return Remote{}, false
	}
	out := Remote{
		Connected: r.connected,
		Active:    slices.SortedFunc(maps.Keys(r.active), func(a, b tezos.ChainID) int { return slices.Compare(a[:], b[:]) }),
		Received:  maps.Clone(r.received),
		Counters:  r.counters,
	}
	if r.head != nil {
		h := *r.head
		out.Head = &h
	}
	if r.branch != nil {
		b := *r.branch
		out.Branch = &b
	}
	return out, true
}

// update runs f on id's state under p.mu.
func (p *Peer) update(id p2ppool.PeerID, f func(r *remote)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.remotes[id])
}
