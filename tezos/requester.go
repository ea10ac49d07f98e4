package tezos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/internal/crypto"
)

// This file is the requester: it fetches block headers, the operations
// of blocks and predecessor headers from peers it does not trust, and
// hands over only what it has verified. It is the counterpart of octez's
// Distributed_db_requester (src/lib_shell/distributed_db_requester.ml)
// over octez's lib_requester, reduced to what an application that follows
// a chain needs.
//
// # How answers reach it
//
// The requester owns no goroutine. A Fetch call's own goroutine sends the
// requests, waits for the answers and retries; the application's read
// loop hands every message to Handle, which keeps the answers
// (Block_header, Operations_for_blocks, Predecessor_header), verifies
// them and passes them to the waiting call without blocking:
//
//	for {
//		c, m, err := pool.Read(ctx)
//		if err != nil { ... }
//		if req.Handle(c, m) {
//			continue // an answer, kept or dropped by the requester
//		}
//		... // the application's own handling
//	}
//
// Peers are added with AddPeer (from a Conns().OnNew hook, say) and
// forgotten with RemovePeer or when their connection's Done is closed.

// Requester defaults, used when the RequesterConfig field is zero.
const (
	// DefaultRequestTimeout is how long a request waits for its answers
	// before what is missing is asked of another peer. octez starts at
	// 1 s and doubles (distributed_db_requester.ml 296-299, initial_delay);
	// this is a single, larger step.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultRequestAttempts is how many distinct peers are asked for one
	// item before the fetch fails.
	DefaultRequestAttempts = 3
	// DefaultRequestsPerPeer bounds the requests in flight to one peer.
	DefaultRequestsPerPeer = 4
	// DefaultRequestsInFlight bounds the requests in flight in all.
	DefaultRequestsInFlight = 64
)

// RequesterConfig configures a Requester. The zero value is valid.
type RequesterConfig struct {
	// Timeout is how long one request waits for its answers. If zero,
	// DefaultRequestTimeout.
	Timeout time.Duration
	// Attempts is how many distinct peers are asked for one item before
	// the fetch fails with ErrNoAnswer. If zero, DefaultRequestAttempts.
	Attempts int
	// PerPeer bounds the requests in flight to one peer (each asks up to
	// MaxRequestLength items). If zero, DefaultRequestsPerPeer.
	PerPeer int
	// InFlight bounds the requests in flight over all peers, and with
	// them the answers the requester waits for: at most InFlight ×
	// MaxRequestLength items. If zero, DefaultRequestsInFlight.
	InFlight int
	// Genesis is the chain's genesis block hash, if known. octez fixes it
	// by configuration: it is not the hash of the genesis header
	// (src/lib_store/shared/block_repr.ml 67-100), so a header fetched
	// for it cannot be checked against it. With GenesisHeader the
	// requester answers it locally; without, a peer's answer is accepted
	// only with the genesis shape (level 0, protocol level 0, itself as
	// predecessor, no validation pass, the empty operations hash, no
	// fitness, no protocol data), which is all that can be checked.
	Genesis BlockHash
	// GenesisHeader is the genesis header (Network.GenesisHeader), or nil.
	GenesisHeader *BlockHeader
}

// Validate reports a negative field.
func (c RequesterConfig) Validate() error {
	if c.Timeout < 0 || c.Attempts < 0 || c.PerPeer < 0 || c.InFlight < 0 {
		return fmt.Errorf("tezos: requester config: negative value: %w", ErrRequesterConfig)
	}
	return nil
}

// Errors of the requester; match them with errors.Is.
var (
	// ErrRequesterConfig reports an invalid RequesterConfig.
	ErrRequesterConfig = errors.New("tezos: invalid requester config")
	// ErrRequesterClosed is returned by every Fetch once Close has begun.
	ErrRequesterClosed = errors.New("tezos: requester closed")
	// ErrNoAnswer reports an item no peer answered with verified data
	// within the attempts allowed, or no peer left to ask.
	ErrNoAnswer = errors.New("tezos: no verified answer")
)

// FetchError reports an item that could not be fetched: what it was, the
// peers asked (in order), the peers greylisted for answering it with data
// that failed verification, and the cause (ErrNoAnswer).
type FetchError struct {
	What  string
	Tried []p2ppool.PeerID
	Liars []p2ppool.PeerID
	Err   error
}

// Error names the item and the peers.
func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tezos: fetch %s: %v", e.What, e.Err)
	if len(e.Tried) > 0 {
		fmt.Fprintf(&b, " (asked %s", joinPeers(e.Tried))
		if len(e.Liars) > 0 {
			fmt.Fprintf(&b, "; greylisted for invalid data: %s", joinPeers(e.Liars))
		}
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

func joinPeers(ps []p2ppool.PeerID) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// RequestPeer is a connection the requester can ask:
// *p2ppool.Connection[Message, M] is one, for any M.
type RequestPeer interface {
	Peer() p2ppool.PeerID
	WriteNow(Message) error
	Done() <-chan struct{}
}

// Greylister greylists a peer: p2ppool.ACL is one.
type Greylister interface {
	GreylistPeer(p2ppool.PeerID) error
}

// RequesterStats counts what the requester did.
type RequesterStats struct {
	Requests    uint64 // request messages sent
	Delivered   uint64 // verified items handed over
	Timeouts    uint64 // items a request timed out on
	Unsolicited uint64 // answers to nothing pending, dropped (octez Unexpected_response)
	Invalid     uint64 // answers that failed verification, dropped, their sender greylisted
	InFlight    int    // requests in flight now
}

// FetchedHeader is a verified block header: Raw are its bytes, whose
// Blake2B-256 is Hash (but for the genesis block, see
// RequesterConfig.Genesis).
type FetchedHeader struct {
	Hash   BlockHash
	Header BlockHeader
	Raw    []byte
	// From is the peer that sent it; zero for a genesis header answered
	// locally (RequesterConfig.GenesisHeader).
	From p2ppool.PeerID
}

// Requester fetches and verifies data from untrusted peers. It is safe
// for concurrent use: several Fetch calls may run at once, with Handle
// called from another goroutine. It starts no goroutine.
type Requester struct {
	// Immutable after NewRequester.
	cfg      RequesterConfig
	greylist Greylister
	done     chan struct{} // closed by Close
	close    sync.Once

	requests, delivered, timeouts, unsolicited, invalid atomic.Uint64

	mu sync.Mutex
	// Guarded by mu.
	peers    map[p2ppool.PeerID]*reqPeer
	order    []p2ppool.PeerID // peers in the order added, for fair picking
	next     int              // where the next pick starts in order
	pending  map[itemKey][]*waiter
	inFlight int
	changed  chan struct{} // closed and replaced when a slot frees or peers change
}

// itemKind says what an item is.
type itemKind uint8

const (
	kindHeader itemKind = iota + 1
	kindOps
	kindPred
)

// itemKey names one thing asked for: a header by hash, the operations of
// one validation pass of a block, or the header n blocks before a block.
type itemKey struct {
	kind itemKind
	hash BlockHash
	n    int32 // pass or offset
}

func (k itemKey) String() string {
	switch k.kind {
	case kindHeader:
		return "block header " + k.hash.String()
	case kindOps:
		return fmt.Sprintf("operations of %s pass %d", k.hash, k.n)
	default:
		return fmt.Sprintf("predecessor header %d before %s", k.n, k.hash)
	}
}

// waiter is one call's wait for one item.
type waiter struct {
	call *call
	idx  int
	// What the answer must match besides its key.
	wantOps   OperationListListHash // kindOps
	wantLevel int32                 // kindPred
	wantHash  *BlockHash            // kindPred, when known
}

// answer is a verified item passed from Handle to the waiting call.
type answer struct {
	idx    int
	from   p2ppool.PeerID
	header FetchedHeader
	ops    []Operation
}

// call is one Fetch's mailbox. Its channel is buffered to the call's
// item count, and a waiter is removed once answered, so each item is
// answered at most once and Handle never blocks on it.
type call struct {
	answers chan answer
}

// reqPeer is a peer the requester asks.
type reqPeer struct {
	p          RequestPeer
	inFlight   int
	headerReqs int  // header requests among inFlight
	gone       bool // removed
	lied       bool // removed for answering with invalid data
	// Headers asked of it, outstanding or recently: a Block_header from
	// it whose hash is none of these is not an answer of ours.
	asked     map[BlockHash]int
	askedRing []BlockHash
	ringNext  int
}

// askedMemory is how many recent header hashes are remembered per peer.
const askedMemory = 256

// NewRequester returns a requester that greylists peers through g
// (pool.ACL(), usually).
func NewRequester(g Greylister, cfg RequesterConfig) (*Requester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = DefaultRequestAttempts
	}
	if cfg.PerPeer == 0 {
		cfg.PerPeer = DefaultRequestsPerPeer
	}
	if cfg.InFlight == 0 {
		cfg.InFlight = DefaultRequestsInFlight
	}
	if cfg.GenesisHeader != nil {
		h := *cfg.GenesisHeader
		cfg.GenesisHeader = &h
	}
	return &Requester{
		cfg: cfg, greylist: g, done: make(chan struct{}),
		peers: map[p2ppool.PeerID]*reqPeer{}, pending: map[itemKey][]*waiter{},
		changed: make(chan struct{}),
	}, nil
}

// Close makes every Fetch, running or to come, fail with
// ErrRequesterClosed. It is idempotent.
func (r *Requester) Close() error {
	r.close.Do(func() { close(r.done) })
	return nil
}

// AddPeer makes p one of the peers asked. Adding a peer already known
// replaces its connection.
func (r *Requester) AddPeer(p RequestPeer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := p.Peer()
	if old, ok := r.peers[id]; ok {
		old.p, old.gone = p, false
	} else {
		r.peers[id] = &reqPeer{p: p, asked: map[BlockHash]int{}, askedRing: make([]BlockHash, 0, askedMemory)}
		r.order = append(r.order, id)
	}
	r.signalLocked()
}

// RemovePeer forgets a peer: requests in flight to it are asked of
// another.
func (r *Requester) RemovePeer(id p2ppool.PeerID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(id)
}

// removeLocked forgets a peer. r.mu must be held.
func (r *Requester) removeLocked(id p2ppool.PeerID) {
	p, ok := r.peers[id]
	if !ok {
		return
	}
	p.gone = true
	delete(r.peers, id)
	for i, o := range r.order {
		if o == id {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	r.signalLocked()
}

// signalLocked wakes the calls waiting for a change. r.mu must be held.
func (r *Requester) signalLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Stats returns the counters.
func (r *Requester) Stats() RequesterStats {
	r.mu.Lock()
	n := r.inFlight
	r.mu.Unlock()
	return RequesterStats{
		Requests: r.requests.Load(), Delivered: r.delivered.Load(), Timeouts: r.timeouts.Load(),
		Unsolicited: r.unsolicited.Load(), Invalid: r.invalid.Load(), InFlight: n,
	}
}

// FetchHeaders fetches the headers of hashes (any number; asked
// MaxRequestLength at a time, as octez's Get_block_headers allows,
// several requests in flight, from several peers) and returns them in the
// order of hashes. Each is handed over only once its bytes hash to the
// hash asked (the genesis aside: see RequesterConfig.Genesis). A peer that
// answers a request of ours with a header we did not ask of it is
// greylisted. A hash no peer answers within the attempts fails the call
// with a *FetchError wrapping ErrNoAnswer.
func (r *Requester) FetchHeaders(ctx context.Context, hashes []BlockHash) ([]FetchedHeader, error) {
	out := make([]FetchedHeader, len(hashes))
	items := make([]item, 0, len(hashes))
	for i, h := range hashes {
		if r.cfg.GenesisHeader != nil && h == r.cfg.Genesis {
			raw, err := BlockHeaderCodec.Encode(nil, r.cfg.GenesisHeader)
			if err != nil {
				return nil, err
			}
			out[i] = FetchedHeader{Hash: h, Header: *r.cfg.GenesisHeader, Raw: raw}
			continue
		}
		items = append(items, item{key: itemKey{kind: kindHeader, hash: h}, idx: i})
	}
	err := r.run(ctx, items, func(a answer) {
		out[a.idx] = a.header
		out[a.idx].From = a.from
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FetchOperations fetches the operations of every validation pass of the
// block hash whose header is h, and returns them by pass. Each pass's
// list is handed over only once its Merkle path, with the hash of its
// operations, leads to h's operations_hash at that pass (octez's probe,
// distributed_db_requester.ml 323-337); a peer that answers with another
// is greylisted. h should be verified already (FetchHeaders).
func (r *Requester) FetchOperations(ctx context.Context, hash BlockHash, h *BlockHeader) ([][]Operation, error) {
	n := int(h.Shell.ValidationPasses)
	if n > MaxValidationPasses {
		return nil, fmt.Errorf("tezos: fetch operations of %s: %d validation passes over %d: %w", hash, n, MaxValidationPasses, ErrNoAnswer)
	}
	out := make([][]Operation, n)
	items := make([]item, n)
	for i := range n {
		items[i] = item{key: itemKey{kind: kindOps, hash: hash, n: int32(i)}, idx: i, wantOps: h.Shell.OperationsHash}
	}
	err := r.run(ctx, items, func(a answer) { out[a.idx] = a.ops })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FetchPredecessorHeader fetches the header offset blocks before the
// block hash, whose level is level (octez Get_predecessor_header,
// answered from the peer's store, p2p_reader.ml 673-687). A header is
// handed over only at level - offset and, for offset 1, with the hash
// predecessor when predecessor is not nil (the block's own
// Shell.Predecessor); for larger offsets nothing else can be checked
// from one header: follow the chain with FetchHeaders to verify it. A
// peer that answers with another level or hash is greylisted.
func (r *Requester) FetchPredecessorHeader(ctx context.Context, hash BlockHash, level, offset int32, predecessor *BlockHash) (FetchedHeader, error) {
	if offset < 0 || offset > level {
		return FetchedHeader{}, fmt.Errorf("tezos: fetch predecessor header %d before level %d: %w", offset, level, ErrNoAnswer)
	}
	var want *BlockHash
	if offset == 0 {
		want = &hash
	} else if offset == 1 && predecessor != nil {
		p := *predecessor
		want = &p
	}
	var out FetchedHeader
	items := []item{{key: itemKey{kind: kindPred, hash: hash, n: offset}, wantLevel: level - offset, wantHash: want}}
	if err := r.run(ctx, items, func(a answer) { out, out.From = a.header, a.from }); err != nil {
		return FetchedHeader{}, err
	}
	return out, nil
}

// item is one thing a call fetches, with its state. Owned by the call.
type item struct {
	key       itemKey
	idx       int
	wantOps   OperationListListHash
	wantLevel int32
	wantHash  *BlockHash

	done  bool
	req   *request // in flight in req, or nil
	tried []p2ppool.PeerID
	liars []p2ppool.PeerID
}

// request is one message in flight to one peer. Owned by the call.
type request struct {
	peer     *reqPeer
	id       p2ppool.PeerID
	items    []*item
	deadline time.Time
	open     int  // items not yet answered
	finished bool // its slot freed, its waiters removed
}

// run fetches items, calling got for each verified answer, in the
// calling goroutine.
func (r *Requester) run(ctx context.Context, items []item, got func(answer)) error {
	if len(items) == 0 {
		return nil
	}
	c := &call{answers: make(chan answer, len(items))}
	byIdx := make(map[int]*item, len(items))
	for i := range items {
		byIdx[items[i].idx] = &items[i]
	}
	var reqs []*request
	defer func() {
		// Whatever is left in flight is forgotten: its slots freed, its
		// waiters removed.
		r.mu.Lock()
		for _, q := range reqs {
			r.finishLocked(c, q)
		}
		r.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	left := len(items)
	for left > 0 {
		// Send what can be sent.
		r.mu.Lock()
		changed := r.changed
		for {
			q, err := r.dispatchLocked(c, items)
			if err != nil {
				r.mu.Unlock()
				return err
			}
			if q == nil {
				break
			}
			reqs = append(reqs, q)
		}
		r.mu.Unlock()
		for _, q := range reqs {
			if !q.deadline.IsZero() {
				continue
			}
			q.deadline = time.Now().Add(r.cfg.Timeout)
			r.requests.Add(1)
			if q.peer.p.WriteNow(requestMessage(q.items)) != nil {
				// Not sent (queue full, connection gone): time it out now.
				q.deadline = time.Now()
			}
		}
		// Wait for an answer, a deadline or a change.
		var first time.Time
		for _, q := range reqs {
			if first.IsZero() || q.deadline.Before(first) {
				first = q.deadline
			}
		}
		if !first.IsZero() {
			timer.Reset(time.Until(first))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case a := <-c.answers:
			it := byIdx[a.idx]
			if it.done {
				continue
			}
			it.done = true
			left--
			got(a)
			r.delivered.Add(1)
			if q := it.req; q != nil {
				it.req = nil
				q.open--
				if q.open == 0 {
					reqs = r.finish(c, reqs, q)
				}
			}
		case <-timer.C:
			now := time.Now()
			for _, q := range append([]*request(nil), reqs...) {
				if q.deadline.After(now) {
					continue
				}
				for _, it := range q.items {
					if it.req == q && !it.done {
						it.req = nil
						r.timeouts.Add(1)
					}
				}
				reqs = r.finish(c, reqs, q)
			}
		case <-changed:
			// A peer gone: its requests are asked elsewhere.
			r.mu.Lock()
			var goneReqs []*request
			for _, q := range reqs {
				if q.peer.gone {
					goneReqs = append(goneReqs, q)
				}
			}
			r.mu.Unlock()
			for _, q := range goneReqs {
				for _, it := range q.items {
					if it.req == q {
						it.req = nil
					}
					if q.peer.lied {
						it.liars = append(it.liars, q.id)
					}
				}
				reqs = r.finish(c, reqs, q)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return ErrRequesterClosed
		}
	}
	return nil
}

// finish ends request q of call c and removes it from reqs.
func (r *Requester) finish(c *call, reqs []*request, q *request) []*request {
	r.mu.Lock()
	r.finishLocked(c, q)
	r.mu.Unlock()
	for i, o := range reqs {
		if o == q {
			return append(reqs[:i], reqs[i+1:]...)
		}
	}
	return reqs
}

// finishLocked frees q's slot and removes c's waiters for q's items.
// r.mu must be held.
func (r *Requester) finishLocked(c *call, q *request) {
	if q.finished {
		return
	}
	q.finished = true
	q.peer.inFlight--
	if q.items[0].key.kind == kindHeader {
		q.peer.headerReqs--
	}
	r.inFlight--
	for _, it := range q.items {
		ws := r.pending[it.key]
		for i, w := range ws {
			if w.call == c && w.idx == it.idx {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(r.pending, it.key)
		} else {
			r.pending[it.key] = ws
		}
	}
	r.signalLocked()
}

// dispatchLocked builds the next request of call c: the items neither
// done nor in flight, up to MaxRequestLength of one kind (one for
// predecessor headers), for the least busy live peer none of them has
// been asked of. It returns nil when there is nothing to send or no free
// slot, and a *FetchError when an item has no peer left to ask. r.mu
// must be held.
func (r *Requester) dispatchLocked(c *call, items []item) (*request, error) {
	var todo []*item
	for i := range items {
		it := &items[i]
		if it.done || it.req != nil {
			continue
		}
		if len(it.tried) >= r.cfg.Attempts || !r.anyUntriedLocked(it) {
			// Every live peer asked, or as many as allowed.
			return nil, &FetchError{What: it.key.String(), Tried: it.tried, Liars: it.liars, Err: ErrNoAnswer}
		}
		todo = append(todo, it)
	}
	if len(todo) == 0 || r.inFlight >= r.cfg.InFlight {
		return nil, nil
	}
	// The least busy peer with a free slot that the first item has not
	// been asked of; then every item for it, up to the batch size.
	var best *reqPeer
	var bestID p2ppool.PeerID
	for k := range r.order {
		id := r.order[(r.next+k)%len(r.order)]
		p := r.peers[id]
		if p.gone || p.inFlight >= r.cfg.PerPeer || isDone(p.p.Done()) || tried(todo[0], id) {
			continue
		}
		if best == nil || p.inFlight < best.inFlight {
			best, bestID = p, id
		}
	}
	if best == nil {
		return nil, nil
	}
	r.next++
	q := &request{peer: best, id: bestID}
	limit := MaxRequestLength
	if todo[0].key.kind == kindPred {
		limit = 1
	}
	for _, it := range todo {
		if len(q.items) == limit {
			break
		}
		if it.key.kind != todo[0].key.kind || tried(it, bestID) {
			continue
		}
		q.items = append(q.items, it)
		it.req = q
		it.tried = append(it.tried, bestID)
		w := &waiter{call: c, idx: it.idx, wantOps: it.wantOps, wantLevel: it.wantLevel, wantHash: it.wantHash}
		r.pending[it.key] = append(r.pending[it.key], w)
		if it.key.kind == kindHeader {
			best.remember(it.key.hash)
		}
	}
	q.open = len(q.items)
	if todo[0].key.kind == kindHeader {
		best.headerReqs++
	}
	best.inFlight++
	r.inFlight++
	return q, nil
}

// anyUntriedLocked reports whether a live peer has not been asked for it.
// r.mu must be held.
func (r *Requester) anyUntriedLocked(it *item) bool {
	for id, p := range r.peers {
		if !p.gone && !tried(it, id) && !isDone(p.p.Done()) {
			return true
		}
	}
	return false
}

func tried(it *item, id p2ppool.PeerID) bool {
	for _, t := range it.tried {
		if t == id {
			return true
		}
	}
	return false
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// remember records that h was asked of p.
func (p *reqPeer) remember(h BlockHash) {
	if len(p.askedRing) < askedMemory {
		p.askedRing = append(p.askedRing, h)
	} else {
		old := p.askedRing[p.ringNext]
		if p.asked[old]--; p.asked[old] <= 0 {
			delete(p.asked, old)
		}
		p.askedRing[p.ringNext] = h
		p.ringNext = (p.ringNext + 1) % askedMemory
	}
	p.asked[h]++
}

// requestMessage is the message asking for items, all of one kind.
func requestMessage(items []*item) Message {
	switch items[0].key.kind {
	case kindHeader:
		hs := make([]BlockHash, len(items))
		for i, it := range items {
			hs[i] = it.key.hash
		}
		return GetBlockHeaders{Hashes: hs}
	case kindOps:
		bs := make([]BlockPass, len(items))
		for i, it := range items {
			bs[i] = BlockPass{Block: it.key.hash, Pass: int8(it.key.n)}
		}
		return GetOperationsForBlocks{Requests: bs}
	default:
		return GetPredecessorHeader{Block: items[0].key.hash, Offset: items[0].key.n}
	}
}

// Handle takes the answers among the messages the application reads:
// Block_header, Operations_for_blocks and Predecessor_header, from
// from. It returns true for those (the message is then the requester's:
// handed to a waiting Fetch once verified, or dropped) and false for
// every other message, which the application handles. It never blocks.
//
// An answer to nothing pending is dropped and counted (octez's
// Unexpected_response, p2p_reader.ml 490-495, 608-612): a late answer to
// a request another peer answered first is one. An answer that fails
// verification is dropped and its sender greylisted: a Block_header
// whose hash is none of those the sender was asked for while it has
// header requests of ours to answer, an Operations_for_blocks whose path
// does not lead to the block's operations_hash, a Predecessor_header of
// another level or hash.
func (r *Requester) Handle(from RequestPeer, m Message) bool {
	switch m := m.(type) {
	case BlockHeaderMessage:
		r.handleHeader(from, m.Header)
	case OperationsForBlocks:
		r.handleOps(from, m)
	case PredecessorHeader:
		r.handlePred(from, m)
	default:
		return false
	}
	return true
}

func (r *Requester) handleHeader(from RequestPeer, h BlockHeader) {
	raw, err := BlockHeaderCodec.Encode(nil, &h)
	if err != nil {
		r.lie(from)
		return
	}
	hash := BlockHash(crypto.Blake2b256(raw))
	id := from.Peer()
	r.mu.Lock()
	ws := r.pending[itemKey{kind: kindHeader, hash: hash}]
	if len(ws) == 0 && r.cfg.GenesisHeader == nil && isGenesisShape(&h, r.cfg.Genesis) {
		// octez stores genesis under its configured hash, not its
		// header's (block_repr.ml 67-100): an answer for it is matched
		// by shape.
		hash = r.cfg.Genesis
		ws = r.pending[itemKey{kind: kindHeader, hash: hash}]
	}
	if len(ws) > 0 {
		// The bytes hash to what was asked: from whichever peer, it is
		// the header (octez notifies it likewise, p2p_reader.ml 490-503).
		r.deliverLocked(itemKey{kind: kindHeader, hash: hash}, ws, answer{from: id, header: FetchedHeader{Hash: hash, Header: h, Raw: raw}})
		r.mu.Unlock()
		return
	}
	p := r.peers[id]
	lie := p != nil && p.headerReqs > 0 && p.asked[hash] == 0
	r.mu.Unlock()
	if lie {
		// An honest octez peer sends a Block_header only in answer to a
		// Get_block_headers, and only of a hash asked (p2p_reader.ml
		// 474-488): one we never asked of it, while it owes us answers,
		// is a wrong answer.
		r.lie(from)
		return
	}
	r.unsolicited.Add(1)
}

// isGenesisShape reports whether h is a genesis header of the block
// genesis as octez builds it (block_repr.ml 67-83).
func isGenesisShape(h *BlockHeader, genesis BlockHash) bool {
	s := &h.Shell
	return genesis != (BlockHash{}) && s.Level == 0 && s.Proto == 0 && s.Predecessor == genesis &&
		s.ValidationPasses == 0 && s.OperationsHash == OperationsHashOf(nil) &&
		len(s.Fitness) == 0 && len(h.ProtocolData) == 0
}

func (r *Requester) handleOps(from RequestPeer, m OperationsForBlocks) {
	key := itemKey{kind: kindOps, hash: m.Block, n: int32(m.Pass)}
	hashes := make([]OperationHash, len(m.Operations))
	for i := range m.Operations {
		hashes[i] = m.Operations[i].Hash()
	}
	// octez's probe (distributed_db_requester.ml 323-337): the path and
	// the hash of the operations give the operations_hash and the pass.
	got, pos := m.Path.Check(OperationListHashOf(hashes))
	r.mu.Lock()
	ws := r.pending[key]
	if len(ws) == 0 {
		r.mu.Unlock()
		r.unsolicited.Add(1)
		return
	}
	var ok []*waiter
	for _, w := range ws {
		if got == w.wantOps && pos == int(m.Pass) && m.Pass >= 0 {
			ok = append(ok, w)
		}
	}
	if len(ok) == 0 {
		r.mu.Unlock()
		r.lie(from)
		return
	}
	r.deliverLocked(key, ok, answer{from: from.Peer(), ops: m.Operations})
	r.mu.Unlock()
}

func (r *Requester) handlePred(from RequestPeer, m PredecessorHeader) {
	key := itemKey{kind: kindPred, hash: m.Block, n: m.Offset}
	raw, err := BlockHeaderCodec.Encode(nil, &m.Header)
	if err != nil {
		r.lie(from)
		return
	}
	hash := BlockHash(crypto.Blake2b256(raw))
	r.mu.Lock()
	ws := r.pending[key]
	if len(ws) == 0 {
		r.mu.Unlock()
		r.unsolicited.Add(1)
		return
	}
	var ok []*waiter
	for _, w := range ws {
		if m.Header.Shell.Level == w.wantLevel && (w.wantHash == nil || *w.wantHash == hash) {
			ok = append(ok, w)
		}
	}
	if len(ok) == 0 {
		r.mu.Unlock()
		r.lie(from)
		return
	}
	r.deliverLocked(key, ok, answer{from: from.Peer(), header: FetchedHeader{Hash: hash, Header: m.Header, Raw: raw}})
	r.mu.Unlock()
}

// deliverLocked hands a to every waiter in ws, all waiting for key,
// and removes them. r.mu must be held; the sends do not block (see call).
func (r *Requester) deliverLocked(key itemKey, ws []*waiter, a answer) {
	for _, w := range ws {
		a.idx = w.idx
		select {
		case w.call.answers <- a:
		default:
		}
	}
	rest := r.pending[key][:0:0]
	for _, w := range r.pending[key] {
		if !containsWaiter(ws, w) {
			rest = append(rest, w)
		}
	}
	if len(rest) == 0 {
		delete(r.pending, key)
	} else {
		r.pending[key] = rest
	}
}

func containsWaiter(ws []*waiter, w *waiter) bool {
	for _, o := range ws {
		if o == w {
			return true
		}
	}
	return false
}

// lie greylists from and forgets it: the calls that asked it ask
// another peer, and name it in their FetchError if none answers.
func (r *Requester) lie(from RequestPeer) {
	r.invalid.Add(1)
	id := from.Peer()
	r.mu.Lock()
	if p := r.peers[id]; p != nil {
		p.lied = true
	}
	r.removeLocked(id)
	r.mu.Unlock()
	if r.greylist != nil {
		_ = r.greylist.GreylistPeer(id)
	}
}
