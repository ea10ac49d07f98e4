package p2ppool

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool/internal/rate"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// control: per-peer budgets of P2P control messages (token buckets),
// the sustained-abuse rule shared with the applications' own Budgets, and
// the cached Advertise that answers a Bootstrap.
//
// Each connection keeps one token bucket per kind of control message, one
// per application Budget it has been asked about, and one "abuse" bucket
// that every refusal draws from; when it ends they are kept in its peer's
// record (savedBudgets), so a reconnection starts where the last
// connection left off. A message over its budget is ignored
// (no answer, no table change, no event) and counted; a peer that keeps
// sending over budget until its abuse bucket is empty is a flooder: its
// connection ends with ReasonFlood and the peer and its address are
// greylisted, as after a protocol violation.

// Defaults of ControlConfig. An honest octez node stays far inside them:
//
//   - Bootstrap: octez sends one to each peer per maintenance iteration
//     that finds too few connections, then waits for a new point or 5 s
//     (time_between_looking_for_peers) before the next; once it has its
//     connections it sends none. One every 5 s after a burst of 2 answers
//     it; more often would get the same cached answer anyway.
//   - Advertise: octez sends one only in answer to our Bootstrap, which
//     our maintenance sends under the same 5 s rule.
//   - Swap_request: octez sends at most one per maintenance run (every
//     120 s, or when the count leaves its bounds), and honours at most one
//     swap per swap_linger (30 s); octez's own reader throttles it to one
//     per 60 s. One every 30 s after a burst of 2.
//   - Swap_ack: only the answer to our own Swap_request, sent under the
//     same rule: one every 30 s after a burst of 2.
//   - Abuse: 1,000 refusals, refilled at one a second. An honest peer is
//     refused a few messages at most (a Bootstrap sent early); a flood of
//     small messages empties it within the second, after it has sent
//     several times the bytes of the answers it got.
var (
	DefaultControlBootstrap   = RateLimit{Rate: 0.2, Burst: 2}
	DefaultControlAdvertise   = RateLimit{Rate: 0.2, Burst: 2}
	DefaultControlSwapRequest = RateLimit{Rate: 1.0 / 30, Burst: 2}
	DefaultControlSwapAck     = RateLimit{Rate: 1.0 / 30, Burst: 2}
	DefaultControlAbuse       = RateLimit{Rate: 1, Burst: 1000}
)

// advertiseRefresh is how long the encoded Advertise answering Bootstraps
// is reused: every peer asking within it gets the same points (octez draws
// the 20 points past the 30 best at random for each answer; here for each
// refresh), and a flood of Bootstraps from many peers costs one walk of
// the known points per refresh, never one per message.
const advertiseRefresh = 2 * time.Second

// ControlConfig budgets, per connection, the P2P control messages a peer
// may send (Config.Control). Zero fields mean the Default* values above;
// Unlimited turns a budget off. octez has no such budget: its reader (since
// April 2026) delays a second Bootstrap or Advertise by 0.1 s and a second
// swap message by 60 s, stalling the connection, and never drops or
// punishes.
type ControlConfig struct {
	// Bootstrap, Advertise, SwapRequest and SwapAck are the budgets of
	// each kind of control message. A message over its budget is
	// ignored: no answer, no table change, no event; it is counted in
	// Stats.Control. If zero, DefaultControlBootstrap and friends.
	Bootstrap   RateLimit
	Advertise   RateLimit
	SwapRequest RateLimit
	SwapAck     RateLimit
	// Abuse is the sustained-abuse rule: every message refused over its
	// budget, a control message or one an application refuses with
	// Connection.Allow, takes a token from the connection's abuse bucket;
	// when it is empty the connection ends with ReasonFlood and the peer
	// and its address are greylisted (trusted ones are not). If zero,
	// DefaultControlAbuse; Unlimited never greylists for refusals.
	Abuse RateLimit
}

func (c ControlConfig) withDefaults() ControlConfig {
	c.Bootstrap = c.Bootstrap.or(DefaultControlBootstrap)
	c.Advertise = c.Advertise.or(DefaultControlAdvertise)
	c.SwapRequest = c.SwapRequest.or(DefaultControlSwapRequest)
	c.SwapAck = c.SwapAck.or(DefaultControlSwapAck)
	c.Abuse = c.Abuse.or(DefaultControlAbuse)
	return c
}

func (c ControlConfig) validate() error {
	return errors.Join(
		c.Bootstrap.check("Control.Bootstrap"), c.Advertise.check("Control.Advertise"),
		c.SwapRequest.check("Control.SwapRequest"), c.SwapAck.check("Control.SwapAck"),
		c.Abuse.check("Control.Abuse"))
}

// controlKind numbers the budgeted control messages.
type controlKind uint8

const (
	ctlBootstrap controlKind = iota
	ctlAdvertise
	ctlSwapRequest
	ctlSwapAck
	numControlKinds
)

var controlKindNames = [numControlKinds]string{"bootstrap", "advertise", "swap_request", "swap_ack"}

func (k controlKind) limit(c *ControlConfig) RateLimit {
	switch k {
	case ctlBootstrap:
		return c.Bootstrap
	case ctlAdvertise:
		return c.Advertise
	case ctlSwapRequest:
		return c.SwapRequest
	}
	return c.SwapAck
}

// ControlStats counts what the control budgets refused (Stats.Control).
type ControlStats struct {
	// Bootstrap, Advertise, SwapRequest and SwapAck count the control
	// messages ignored because their sender was over budget.
	Bootstrap, Advertise, SwapRequest, SwapAck uint64
	// Requests counts the messages applications refused with
	// Connection.Allow, over every Budget.
	Requests uint64
	// Floods counts the connections ended with ReasonFlood.
	Floods uint64
	// AdvertiseBuilds counts the Advertise answers built: at most one per
	// refresh (2 s), whatever the number of Bootstraps answered.
	AdvertiseBuilds uint64
}

// controlCounters are the core's counters behind ControlStats.
type controlCounters struct {
	ignored                           [numControlKinds]atomic.Uint64
	requests, floods, advertiseBuilds atomic.Uint64
}

func (cc *controlCounters) stats() ControlStats {
	return ControlStats{
		Bootstrap: cc.ignored[ctlBootstrap].Load(), Advertise: cc.ignored[ctlAdvertise].Load(),
		SwapRequest: cc.ignored[ctlSwapRequest].Load(), SwapAck: cc.ignored[ctlSwapAck].Load(),
		Requests: cc.requests.Load(), Floods: cc.floods.Load(), AdvertiseBuilds: cc.advertiseBuilds.Load(),
	}
}

// ErrFlood is in the chain of the *DisconnectError of a connection ended
// with ReasonFlood: its peer kept sending messages over their budget.
var ErrFlood = errors.New("p2ppool: peer kept sending over budget")

// Budget is a rate limit on a kind of request that peers send an
// application, such as a request the application answers at some cost:
// each connection has its own token bucket for it, spent by
// Connection.Allow. Refusals count against the same sustained-abuse rule
// as the pool's own control messages (Config.Control.Abuse). A Budget can
// be shared by any number of pools and connections; it is safe for
// concurrent use.
type Budget struct {
	name    string
	limit   RateLimit
	refused atomic.Uint64
}

// NewBudget returns a Budget named name (for logs) allowing limit on each
// connection. It panics if limit is not a valid RateLimit, or is the zero
// RateLimit, which allows nothing (use Unlimited for no limit): a Budget
// is made once, by code, as a regexp.MustCompile is.
func NewBudget(name string, limit RateLimit) *Budget {
	if err := limit.check("p2ppool: NewBudget " + name); err != nil {
		panic(err)
	}
	if limit == (RateLimit{}) {
		panic(fmt.Sprintf("p2ppool: NewBudget %s: the zero RateLimit allows nothing", name))
	}
	return &Budget{name: name, limit: limit}
}

// Name is the name given to NewBudget.
func (b *Budget) Name() string { return b.name }

// Limit is the limit given to NewBudget.
func (b *Budget) Limit() RateLimit { return b.limit }

// Refused counts the messages refused by this Budget, on every connection.
func (b *Budget) Refused() uint64 { return b.refused.Load() }

// String formats b as "NAME (LIMIT)".
func (b *Budget) String() string { return fmt.Sprintf("%s (%v)", b.name, b.limit) }

// connBudgets are a connection's buckets. Few Budgets are in use on a
// connection (one per kind of request an application budgets), so they
// are found by a scan of a short slice, not a map. Guarded by mu: the
// reader takes it for control messages only, and Allow from whatever
// goroutine the application calls it in.
type connBudgets struct {
	mu      orderedMutex[atConnBudgets]
	control [numControlKinds]rate.Bucket
	abuse   rate.Bucket
	app     []appBucket
}

type appBucket struct {
	b      *Budget
	bucket rate.Bucket
}

// savedBudgets is what a peer's budgets held when its last connection
// ended, kept in its peers-table record: the next connection of the same
// peer id starts from them, not from full buckets, so a peer cannot
// refill its budgets, or its abuse bucket, by reconnecting (it would need
// a new identity, and its proof of work, for each burst). The peers table
// bounds how many are kept (MaxKnownPeerIDs).
type savedBudgets struct {
	control [numControlKinds]rate.Bucket
	abuse   rate.Bucket
	app     []appBucket
}

// saveBudgets records c's budgets for the next connection of its peer.
// The pool lock must be held (c.ctl.mu comes after it: locks.go).
func (c *conn) saveBudgetsLocked(pi *peerInfo) {
	c.ctl.mu.Lock()
	defer c.ctl.mu.Unlock()
	// A copy: the ended connection may still touch its own slice (an Allow
	// that checked the connection just before it ended), while the next
	// connection of the peer copies from this one.
	pi.budgets = &savedBudgets{control: c.ctl.control, abuse: c.ctl.abuse, app: slices.Clone(c.ctl.app)}
}

// restoreBudgets starts c from the budgets its peer's last connection
// left, if any. Called before c runs, so nothing else touches c.ctl yet.
func (c *conn) restoreBudgets(saved *savedBudgets) {
	if saved == nil {
		return
	}
	c.ctl.control, c.ctl.abuse = saved.control, saved.abuse
	c.ctl.app = append([]appBucket(nil), saved.app...)
}

// spendLocked takes a token of bucket under limit at now. A refusal takes
// one from the abuse bucket too; flood reports that there was none left.
// c.ctl.mu must be held.
func (c *conn) spendLocked(limit RateLimit, bucket *rate.Bucket, now time.Time) (ok, flood bool) {
	if limit.allow(bucket, now) {
		return true, false
	}
	return false, !c.pool.cfg.Control.Abuse.allow(&c.ctl.abuse, now)
}

// allowControl spends the budget of a control message of kind k. A
// message over budget is counted; when it is one too many, the returned
// cause ends the connection.
func (c *conn) allowControl(k controlKind) (bool, *DisconnectError) {
	c.ctl.mu.Lock()
	ok, flood := c.spendLocked(k.limit(&c.pool.cfg.Control), &c.ctl.control[k], time.Now())
	c.ctl.mu.Unlock()
	if ok {
		return true, nil
	}
	c.pool.count.control.ignored[k].Add(1)
	if flood {
		return false, c.flooded(controlKindNames[k])
	}
	return false, nil
}

// Allow spends one message of b's budget on this connection and reports
// whether the message is within it. The application calls it before
// answering a request the peer sent (or doing any work a peer asks for),
// and ignores the request when it returns false. Refusals are counted in
// b.Refused and Stats.Control.Requests, and draw from the connection's
// abuse bucket (Config.Control.Abuse): a peer that keeps sending over
// budget loses its connection (ReasonFlood) and is greylisted with its
// address. The bucket lives with the connection and, when it ends, in the
// peer's record of the peers table, so that a peer reconnecting with the
// same identity finds its budgets as it left them. Allow returns false
// once the connection has ended; a nil b is no budget and allows every
// message of an open connection. Safe for concurrent use.
func (c *Connection[Msg, ConnMeta]) Allow(b *Budget) bool { return c.conn.allow(b) }

func (c *conn) allow(b *Budget) bool {
	if c.ctx.Err() != nil {
		return false
	}
	if b == nil {
		return true
	}
	c.ctl.mu.Lock()
	i := slices.IndexFunc(c.ctl.app, func(a appBucket) bool { return a.b == b })
	if i < 0 {
		c.ctl.app = append(c.ctl.app, appBucket{b: b})
		i = len(c.ctl.app) - 1
	}
	ok, flood := c.spendLocked(b.limit, &c.ctl.app[i].bucket, time.Now())
	c.ctl.mu.Unlock()
	if ok {
		return true
	}
	b.refused.Add(1)
	c.pool.count.control.requests.Add(1)
	if flood {
		c.end(c.flooded(b.name), false)
	}
	return false
}

// flooded records that the peer flooded with messages of kind what,
// greylists the peer and its address and returns the cause that ends the
// connection.
func (c *conn) flooded(what string) *DisconnectError {
	cause := &DisconnectError{Reason: ReasonFlood, Remote: true, Err: fmt.Errorf("%w: %s", ErrFlood, what)}
	if c.cause.CompareAndSwap(nil, cause) {
		c.pool.count.control.floods.Add(1)
		c.log.Debug("peer flooded", "kind", what)
		ap, _ := addrPortOf(c.info.RemoteAddr)
		c.pool.acl.punish(ap.Addr(), c.info.Peer)
	}
	return cause
}

// advertiseAnswer is the cached Advertise: the encoded message, shared
// read-only by every connection's writer, and when it was built.
type advertiseAnswer struct {
	msg   []byte // nil when there is no point to advertise
	built time.Time
}

// advertiseCache holds the current answer to Bootstrap. A reader takes it
// without a lock; mu serialises rebuilds (lockAdvertise, taken before the
// pool lock, under which a rebuild copies the candidates out of the
// tables; locks.go).
type advertiseCache struct {
	cur atomic.Pointer[advertiseAnswer]
	mu  orderedMutex[atAdvertise]
	// Immutable after core.wire.
	pool  *poolMutex
	tab   *tables
	count *counters // advertiseBuilds
}

// advCand is what ranking a point for an Advertise needs, copied out of
// the table so that the ranking runs outside the pool lock.
type advCand struct {
	pt           netip.AddrPort
	disconnected bool
	lastSeen     time.Time
}

// rankAdvertised picks up to size of cands as octez's list_known_points
// does: connected ones first (never seen, then longest standing), then
// disconnected ones seen most recently; past the first 3/5 the rest are
// drawn at random so that every node does not advertise the same points.
// It reorders cands.
func rankAdvertised(cands []advCand, size int) []netip.AddrPort {
	// Shuffle first so that the stable sort breaks ties at random, as
	// octez's coin flip does.
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	slices.SortStableFunc(cands, func(a, b advCand) int {
		ad, bd := a.disconnected, b.disconnected
		as, bs := a.lastSeen, b.lastSeen
		switch {
		case ad != bd:
			if ad {
				return 1
			}
			return -1
		case as.IsZero() != bs.IsZero():
			// Never seen: first among connected, last among disconnected.
			if as.IsZero() != ad {
				return -1
			}
			return 1
		case !ad:
			return as.Compare(bs) // longest standing first
		default:
			return cmp.Compare(bs.UnixNano(), as.UnixNano()) // most recent first
		}
	})
	if len(cands) > size {
		best := size - size*2/5
		rest := cands[best:]
		rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		cands = cands[:size]
	}
	out := make([]netip.AddrPort, len(cands))
	for i, c := range cands {
		out[i] = c.pt
	}
	return out
}

// outFull reports whether the connection's outgoing queue has no room
// for anything but into an empty queue: an answer pushed now would be
// dropped.
func (c *conn) outFull() bool {
	q := c.out
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) > q.head && q.bytes >= q.max
}

// controlKindOf is the budget of a P2P message's tag; Disconnect has none.
func controlKindOf(tag uint16) (controlKind, bool) {
	switch tag {
	case wire.TagBootstrap:
		return ctlBootstrap, true
	case wire.TagAdvertise:
		return ctlAdvertise, true
	case wire.TagSwapRequest:
		return ctlSwapRequest, true
	case wire.TagSwapAck:
		return ctlSwapAck, true
	}
	return 0, false
}

// advertisement returns the encoded Advertise to answer a Bootstrap with
// at now, rebuilt when older than advertiseRefresh; nil when no point is
// advertisable.
func (ac *advertiseCache) advertisement(now time.Time) []byte {
	fresh := func(a *advertiseAnswer) bool {
		return a != nil && now.Sub(a.built) < advertiseRefresh && !now.Before(a.built)
	}
	if a := ac.cur.Load(); fresh(a) {
		return a.msg
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if a := ac.cur.Load(); fresh(a) {
		return a.msg // built meanwhile
	}
	ac.pool.Lock()
	cands := ac.tab.advertiseCandidatesLocked()
	ac.pool.Unlock()
	a := &advertiseAnswer{built: now}
	if pts := rankAdvertised(cands, maxAdvertised); len(pts) > 0 {
		m := wire.Message{Tag: wire.TagAdvertise, Points: pts}
		a.msg = m.Append(nil)
	}
	ac.cur.Store(a)
	ac.count.control.advertiseBuilds.Add(1)
	return a.msg
}
