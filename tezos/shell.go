package tezos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/p2ppool/p2ppool"
)

// This file is the shell's per-connection behaviour, after octez's
// src/lib_shell/p2p_reader.ml: what is sent once a connection is up,
// which chains each peer activated, and what each message gets (an
// answer, a callback, or nothing). Line numbers below are that file's.

// Store is what an application knows of the chains it serves, as the
// shell asks for it. Its methods may be called from every connection's
// reader at once: it must be safe for concurrent use, and should answer
// from memory (a reader waits for it).
//
// A Store may also implement CheckpointStore, MempoolStore and
// OperationStore; the shell answers the requests they serve only if it
// does.
type Store interface {
	// Head returns the current head of a chain the application serves
	// (octez Store.Chain.current_head), false if it has none yet.
	Head(chain ChainID) (BlockHeader, bool)
	// Header returns the header of the block of hash h, of any chain
	// (octez read_block_header, 308-314). Under a genesis hash it is the
	// genesis header, whose own hash is not h.
	Header(h BlockHash) (BlockHeader, bool)
}

// CheckpointStore is a Store that answers Get_checkpoint (624-639).
type CheckpointStore interface {
	// Checkpoint returns the chain's checkpoint block header.
	Checkpoint(chain ChainID) (BlockHeader, bool)
}

// MempoolStore is a Store whose Current_head answers carry a mempool
// (426-431); without it they carry an empty one, as octez's with
// disable_mempool.
type MempoolStore interface {
	Mempool(chain ChainID) Mempool
}

// OperationStore is a Store that answers Get_operations (507-525) and
// Get_operations_for_blocks (592-606).
type OperationStore interface {
	// Operation returns a known operation by hash.
	Operation(h OperationHash) (Operation, bool)
	// OperationsForBlock returns validation pass pass of block h with
	// its path to the block's operations_hash (octez
	// Store.Block.operations_path).
	OperationsForBlock(h BlockHash, pass int8) ([]Operation, OperationsPath, bool)
}

// Conn is the connection a Session answers on. A
// *p2ppool.BasicConnection[Message] is one; a connection of a larger
// message set is one through a three-line adapter.
type Conn interface {
	// Peer is the remote peer id.
	Peer() p2ppool.PeerID
	// Allow spends a message of b's budget (p2ppool.Connection.Allow).
	Allow(b *p2ppool.Budget) bool
	// Write queues m, waiting for room (octez P2p.send).
	Write(ctx context.Context, m Message) error
	// WriteNow queues m if there is room (octez P2p.try_send).
	WriteNow(m Message) error
}

// ShellConfig configures a Shell. Every field but Chains and Store has a
// documented zero value.
type ShellConfig struct {
	// Chains are the chains the application serves (octez's
	// active_chains): a Get_current_branch is sent for each on every
	// connection, and only their heads, branches and checkpoints are
	// given. Required, at least one.
	Chains []ChainID
	// Store is what the application knows. Required.
	Store Store
	// OnHead is called with each Current_head a peer sends for a chain
	// it activated, not too far in the future (octez notify_head,
	// 468). hash is the header's hash. It runs on the connection's
	// reader: it must not block long. If nil, heads are dropped.
	OnHead func(peer p2ppool.PeerID, chain ChainID, hash BlockHash, head BlockHeader, mempool Mempool)
	// OnBranch is OnHead for Current_branch (notify_branch, 408).
	OnBranch func(peer p2ppool.PeerID, chain ChainID, locator BlockLocator)
	// Throttle is the rate of each kind of message a connection may
	// send, by tag; a message over its rate is ignored, and a peer that
	// keeps sending over it loses its connection and is greylisted
	// (p2ppool.Connection.Allow). Kinds missing from the map are not
	// limited. If nil, DefaultThrottle().
	Throttle map[uint16]p2ppool.RateLimit
	// MaxClockDrift is how far in the future a head or branch may be
	// (octez Clock_drift.max_timestamp_drift, clock_drift.ml 26). If
	// zero, one second.
	MaxClockDrift time.Duration
}

// DefaultThrottle returns the default ShellConfig.Throttle: octez's
// per-kind throttle (p2p_reader.ml make_throttle_state, 202-251), plus
// limits of ours on the kinds octez leaves unthrottled.
//
// Octez allows one message of a throttled kind per window (4 s for
// branches, heads and Deactivate, 10 s for Get_protocols and the kinds it
// no longer uses, 1 s for Protocol) and makes the reader sleep the
// window on the next one, answering it late (152-193); only a
// Get_protocols is then dropped (564). A Go reader that slept would stall
// the connection's other messages for as long; here the message is
// dropped instead, so the rate is octez's with a burst of 2: an honest
// octez peer, which waits for each answer, is never refused.
//
// Octez does not throttle the data requests (Get_block_headers,
// Get_operations, Get_operations_for_blocks: "naturally spamming",
// 204-229) nor Current_head. Ours: 200 hashes a second with a burst of
// 1,000 for the data requests (each hash asked costs one), and 10 heads
// a second with a burst of 20. Responses (Block_header, Operation,
// Operations_for_blocks) are the requester's, not limited here.
func DefaultThrottle() map[uint16]p2ppool.RateLimit {
	per := func(window time.Duration, burst int) p2ppool.RateLimit {
		return p2ppool.RateLimit{Rate: 1 / window.Seconds(), Burst: burst}
	}
	return map[uint16]p2ppool.RateLimit{
		TagGetCurrentBranch:     per(4*time.Second, 2),  // 210
		TagCurrentBranch:        per(4*time.Second, 2),  // 213
		TagGetCurrentHead:       per(4*time.Second, 2),  // 216
		TagDeactivate:           per(4*time.Second, 2),  // 221
		TagGetProtocols:         per(10*time.Second, 1), // 233, dropped at 564
		TagProtocol:             per(time.Second, 2),    // 237
		TagGetCheckpoint:        per(10*time.Second, 2), // 240 (unused_entry, 200)
		TagCheckpoint:           per(10*time.Second, 2), // 242
		TagGetPredecessorHeader: per(10*time.Second, 2), // 244
		TagPredecessorHeader:    per(10*time.Second, 2), // 246
		TagGetProtocolBranch:    per(10*time.Second, 2), // 248
		TagProtocolBranch:       per(10*time.Second, 2), // 250
		// Ours.
		TagCurrentHead:            {Rate: 10, Burst: 20},
		TagGetBlockHeaders:        {Rate: 200, Burst: 1000},
		TagGetOperations:          {Rate: 200, Burst: 1000},
		TagGetOperationsForBlocks: {Rate: 200, Burst: 1000},
	}
}

// perHash are the kinds whose budget is spent once per hash asked.
var perHash = map[uint16]bool{TagGetBlockHeaders: true, TagGetOperations: true, TagGetOperationsForBlocks: true}

// Shell is an application's shell behaviour towards its peers, shared by
// its connections: Attach gives each connection its Session. Safe for
// concurrent use; immutable after NewShell.
type Shell struct {
	chains   map[ChainID]bool
	order    []ChainID
	store    Store
	onHead   func(p2ppool.PeerID, ChainID, BlockHash, BlockHeader, Mempool)
	onBranch func(p2ppool.PeerID, ChainID, BlockLocator)
	budgets  map[uint16]*p2ppool.Budget
	drift    time.Duration
}

// ErrShellConfig is in the chain of NewShell's error for a bad
// ShellConfig.
var ErrShellConfig = errors.New("tezos: invalid shell configuration")

// NewShell returns a Shell for cfg, which it copies.
func NewShell(cfg ShellConfig) (*Shell, error) {
	if len(cfg.Chains) == 0 || cfg.Store == nil {
		return nil, fmt.Errorf("%w: Chains and Store are required", ErrShellConfig)
	}
	if cfg.MaxClockDrift < 0 {
		return nil, fmt.Errorf("%w: MaxClockDrift %v < 0", ErrShellConfig, cfg.MaxClockDrift)
	}
	th := cfg.Throttle
	if th == nil {
		th = DefaultThrottle()
	}
	s := &Shell{
		chains: make(map[ChainID]bool), store: cfg.Store, onHead: cfg.OnHead, onBranch: cfg.OnBranch,
		budgets: make(map[uint16]*p2ppool.Budget, len(th)), drift: cfg.MaxClockDrift,
	}
	if s.drift == 0 {
		s.drift = time.Second
	}
	for _, c := range cfg.Chains {
		if !s.chains[c] {
			s.chains[c] = true
			s.order = append(s.order, c)
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(th)) {
		k := kindOf(tag)
		if k == nil {
			return nil, fmt.Errorf("%w: Throttle has tag %#x, not a distributed-DB message", ErrShellConfig, tag)
		}
		if l := th[tag]; l == (p2ppool.RateLimit{}) || !(l.Rate >= 0) || l.Burst < 0 {
			return nil, fmt.Errorf("%w: Throttle of %s: %v (p2ppool.Unlimited means none)", ErrShellConfig, k.Name, l)
		}
		s.budgets[tag] = p2ppool.NewBudget(k.Name, th[tag])
	}
	return s, nil
}

// Budget is the Budget a kind of message is throttled by, nil if none;
// its Refused counts the messages ignored over it.
func (s *Shell) Budget(tag uint16) *p2ppool.Budget { return s.budgets[tag] }

// Session is one connection's shell state (octez's P2p_reader.t): the
// chains the peer activated. It is owned by the connection's reader: its
// methods must be called from one goroutine.
type Session struct {
	shell *Shell
	conn  Conn
	// active are the chains the peer activated (peer_active_chains).
	active map[ChainID]bool
}

// Attach returns c's Session. Call Start, then Handle for each message c
// receives.
func (s *Shell) Attach(c Conn) *Session {
	return &Session{shell: s, conn: c, active: make(map[ChainID]bool)}
}

// Start sends a Get_current_branch for each chain served, as octez does
// when a connection is up (806-820), waiting for room in the queue.
func (s *Session) Start(ctx context.Context) error {
	for _, c := range s.shell.order {
		if err := s.conn.Write(ctx, GetCurrentBranch{ChainID: c}); err != nil {
			return fmt.Errorf("tezos: start shell with %v: %w", s.conn.Peer(), err)
		}
	}
	return nil
}

// Active reports whether the peer activated chain.
func (s *Session) Active(chain ChainID) bool { return s.active[chain] }

// ActiveChains are the chains the peer activated, sorted.
func (s *Session) ActiveChains() []ChainID {
	return slices.SortedFunc(maps.Keys(s.active), func(a, b ChainID) int { return slices.Compare(a[:], b[:]) })
}

// Verdict is what Handle did with a message.
type Verdict uint8

const (
	// Answered: a request was answered (for a list, at least one item).
	Answered Verdict = iota + 1
	// Unknown: a request for blocks, operations or protocols the Store
	// does not have, or for a chain it has no head, checkpoint or
	// branch of: nothing sent (octez's Unadvertised).
	Unknown
	// Inactive: a message of a chain the peer has not activated, ignored
	// (may_handle, 256-262).
	Inactive
	// NotServed: a request about a chain the application does not
	// serve, ignored (may_handle_global, 266-269).
	NotServed
	// Throttled: over its kind's budget, ignored.
	Throttled
	// Accepted: a head or branch given to OnHead or OnBranch, or a
	// Deactivate applied.
	Accepted
	// FutureBlock: a head or branch too far in the future, ignored
	// (405-406, 465-466).
	FutureBlock
	// Response: an answer to a request (Block_header, Operation,
	// Operations_for_blocks, Protocol, Checkpoint, Protocol_branch,
	// Predecessor_header): not the shell's, but the requester's, which
	// must check it was asked for and verify it.
	Response
)

var verdictNames = [...]string{"", "answered", "unknown", "inactive chain", "chain not served", "throttled", "accepted", "future block", "response"}

// String names the verdict.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) && v != 0 {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", v)
}

// Handle handles one message the peer sent, as octez's handle_msg
// (353-693) does, and says what it did. Answers are queued without
// waiting (octez try_send): one that finds the queue full is dropped.
// OnHead and OnBranch run inside Handle.
func (s *Session) Handle(m Message) Verdict {
	sh := s.shell
	if b := sh.budgets[m.Tag()]; b != nil {
		n := 1
		if perHash[m.Tag()] {
			n = requestLen(m)
		}
		for range n {
			if !s.conn.Allow(b) {
				return Throttled
			}
		}
	}
	switch m := m.(type) {
	case GetCurrentBranch: // 362-383
		if !sh.chains[m.ChainID] { // may_handle_global
			return NotServed
		}
		s.active[m.ChainID] = true // activate, 365
		l, ok := sh.locator(m.ChainID)
		if !ok {
			return Unknown
		}
		return s.answer(CurrentBranch{ChainID: m.ChainID, Locator: l})
	case CurrentBranch: // 384-413
		if !s.active[m.ChainID] { // may_handle
			return Inactive
		}
		if !sh.notInFuture(m.Locator.CurrentHead.Shell.Timestamp) {
			return FutureBlock
		}
		if sh.onBranch != nil {
			sh.onBranch(s.conn.Peer(), m.ChainID, m.Locator)
		}
		return Accepted
	case Deactivate: // 414-419
		if !s.active[m.ChainID] {
			return Inactive
		}
		delete(s.active, m.ChainID)
		return Accepted
	case GetCurrentHead: // 420-437
		if !s.active[m.ChainID] {
			return Inactive
		}
		head, ok := sh.store.Head(m.ChainID)
		if !ok {
			return Unknown
		}
		mp := Mempool{KnownValid: []OperationHash{}, Pending: []OperationHash{}}
		if ms, ok := sh.store.(MempoolStore); ok {
			mp = ms.Mempool(m.ChainID)
		}
		return s.answer(CurrentHead{ChainID: m.ChainID, Header: head, Mempool: mp})
	case CurrentHead: // 438-473
		if !s.active[m.ChainID] {
			return Inactive
		}
		if !sh.notInFuture(m.Header.Shell.Timestamp) {
			return FutureBlock
		}
		if sh.onHead != nil {
			hash, err := m.Header.Hash()
			if err != nil { // a header decoded is within the bounds it is encoded in
				return Unknown
			}
			sh.onHead(s.conn.Peer(), m.ChainID, hash, m.Header, m.Mempool)
		}
		return Accepted
	case GetBlockHeaders: // 474-489: whatever the activation
		v := Unknown
		for _, h := range m.Hashes {
			if hdr, ok := sh.store.Header(h); ok && s.answer(BlockHeaderMessage{Header: hdr}) == Answered {
				v = Answered
			}
		}
		return v
	case GetOperations: // 507-525
		os, ok := sh.store.(OperationStore)
		v := Unknown
		for _, h := range m.Hashes {
			if !ok {
				break
			}
			if op, found := os.Operation(h); found && s.answer(OperationMessage{Operation: op}) == Answered {
				v = Answered
			}
		}
		return v
	case GetOperationsForBlocks: // 592-606
		os, ok := sh.store.(OperationStore)
		v := Unknown
		for _, bp := range m.Requests {
			if !ok {
				break
			}
			ops, path, found := os.OperationsForBlock(bp.Block, bp.Pass)
			if found && s.answer(OperationsForBlocks{BlockPass: bp, Path: path, Operations: ops}) == Answered {
				v = Answered
			}
		}
		return v
	case GetProtocols: // 560-579: no protocol is served
		return Unknown
	case GetCheckpoint: // 624-639: may_handle_global, no activation needed
		if !sh.chains[m.ChainID] {
			return NotServed
		}
		cs, ok := sh.store.(CheckpointStore)
		if !ok {
			return Unknown
		}
		hdr, ok := cs.Checkpoint(m.ChainID)
		if !ok {
			return Unknown
		}
		return s.answer(Checkpoint{ChainID: m.ChainID, Header: hdr})
	case GetProtocolBranch: // 646-666
		if !sh.chains[m.ChainID] {
			return NotServed
		}
		// 649: it activates the chain, whether a locator is found or
		// not; no protocol locator is computed here (octez sends none
		// when it has none, 665).
		s.active[m.ChainID] = true
		return Unknown
	case GetPredecessorHeader: // 673-687: whatever the activation
		hdr, ok := sh.ancestor(m.Block, m.Offset)
		if !ok {
			return Unknown // 680
		}
		return s.answer(PredecessorHeader{Block: m.Block, Offset: m.Offset, Header: hdr})
	}
	return Response
}

// answer queues m without waiting.
func (s *Session) answer(m Message) Verdict {
	if s.conn.WriteNow(m) != nil {
		return Unknown
	}
	return Answered
}

// requestLen is the number of hashes a data request asks for (at least
// one, so that an empty request costs too).
func requestLen(m Message) int {
	n := 0
	switch m := m.(type) {
	case GetBlockHeaders:
		n = len(m.Hashes)
	case GetOperations:
		n = len(m.Hashes)
	case GetOperationsForBlocks:
		n = len(m.Requests)
	}
	return max(n, 1)
}

// notInFuture is Clock_drift.is_not_too_far_in_the_future (clock_drift.ml
// 34-35).
func (sh *Shell) notInFuture(ts int64) bool {
	return time.Now().Add(sh.drift).Unix() >= ts
}

// maxWalk bounds the Store lookups of one locator or predecessor walk.
const maxWalk = 10_000

// locator is the chain's current branch, as octez's Block_locator.compute
// (lib_base/block_locator.ml 101-148) steps it: the head, then
// predecessors at steps of 1 ten times, 2 ten times, 4, ..., ending at
// genesis, at most MaxLocatorHistory hashes and maxWalk lookups. Octez
// shortens each step after the first ten by a gap drawn from a seed of
// both peers' ids; this takes none.
func (sh *Shell) locator(chain ChainID) (BlockLocator, bool) {
	head, ok := sh.store.Head(chain)
	if !ok {
		return BlockLocator{}, false
	}
	l := BlockLocator{CurrentHead: head, History: []BlockHash{}}
	cur, hdr := BlockHash{}, head
	step, count, walked := 1, 10, 0
	for len(l.History) < MaxLocatorHistory && walked < maxWalk {
		k := 0
		for ; k < step && walked < maxWalk; k++ {
			pred := hdr.Shell.Predecessor
			if pred == cur || hdr.Shell.Level == 0 { // genesis is its own predecessor
				break
			}
			next, ok := sh.store.Header(pred)
			walked++
			if !ok {
				break
			}
			cur, hdr = pred, next
		}
		if k == 0 {
			break
		}
		l.History = append(l.History, cur)
		if count--; count == 0 {
			step, count = step*2, 10
		}
	}
	return l, true
}

// ancestor is the header offset blocks below block h (octez
// read_predecessor_header, 316-327: Store.Block.read_block_opt
// ~distance), within maxWalk lookups; none for a negative offset or
// past genesis.
func (sh *Shell) ancestor(h BlockHash, offset int32) (BlockHeader, bool) {
	if offset < 0 || offset >= maxWalk {
		return BlockHeader{}, false
	}
	hdr, ok := sh.store.Header(h)
	for ; ok && offset > 0; offset-- {
		if hdr.Shell.Predecessor == h || hdr.Shell.Level == 0 {
			return BlockHeader{}, false
		}
		h = hdr.Shell.Predecessor
		hdr, ok = sh.store.Header(h)
	}
	return hdr, ok
}
