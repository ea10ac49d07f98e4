package p2ppool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/greylist"
	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// core is the pool under its typed layer: tables, ACL, admission,
// maintenance, swap, events and the peers file, working on connections of
// bytes (conn) and metadata as values of type any. Pool adds the types
// where messages and metadata meet bytes.
type core struct {
	// Immutable after newCore.
	cfg      Config // with defaults applied; the limits in force are p.limits
	edge     edge
	peerMeta peerMetaHooks
	connMeta connMetaHooks
	versions socket.Versions
	sockCfg  socket.Config // Port is filled per handshake from port
	self     PeerID
	log      *slog.Logger
	groups   netGroups
	// evictSeed keys the subnet hash that protects connections from
	// eviction, so that no peer can predict which are protected.
	evictSeed maphash.Seed
	// ctx is cancelled by Close: it aborts handshakes and dials.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when Close or Shutdown begins

	// port is the listening port announced in connection messages.
	port atomic.Uint32
	// nextID numbers connections.
	nextID atomic.Uint64
	// dropped counts messages dropped on full outgoing queues.
	dropped atomic.Uint64
	// unknown counts messages of undeclared tags dropped
	// (UnknownMessagesIgnore).
	unknown atomic.Uint64
	// evictions counts connections evicted for a newcomer.
	evictions atomic.Uint64
	// ended counts the connections ended, by reason (Stats.Connections.Ended);
	// oversized the messages refused for a size over the bound
	// (Stats.Messages.Oversized).
	ended     [numReasons]atomic.Uint64
	oversized atomic.Uint64
	// refused counts inbound connections refused, by reason.
	refused [numRefusals]atomic.Uint64

	// inBudget bounds the incoming bytes held across connections.
	inBudget *inBudget
	// outBudget bounds the outgoing bytes held across connections.
	outBudget *outBudget

	// control counts what the control budgets refused; adv is the cached
	// answer to Bootstrap (control.go).
	control controlCounters
	adv     advertiseCache

	// events fans events out to watchers; it has its own lock, taken
	// after mu.
	events eventHub

	// maintainReq wakes the maintenance worker (capacity 1).
	maintainReq chan struct{}
	// Guarded by mu: maintenance runs completed, whether one is running,
	// and a channel closed (and replaced) at the end of each run.
	maintainRuns int
	maintaining  bool
	maintainDone chan struct{}

	// saveMu serialises peers-file saves.
	saveMu sync.Mutex

	// wg counts every goroutine the pool started and every call in
	// flight that may start one (handshakes); Close waits for it, unless
	// it is called on one of them (see reentry.go).
	wg sync.WaitGroup
	// gs registers the goroutines wg counts, and those they wait for, so
	// that a call made from a callback knows whether it runs on one.
	gs goroutines
	// finishOnce releases the scheduler and the watchers once; a Close
	// called from a callback leaves that to the finisher goroutine,
	// started once and closed when it exits.
	finishOnce, finisherOnce sync.Once
	finisher                 chan struct{}
	// shutdownSaved: a Shutdown has saved the peers file (once: a
	// Shutdown called from MarshalJSON during that save must not save
	// again).
	shutdownSaved atomic.Bool

	// Lock order: adv.mu, then mu, then a connection's ctl.mu or a
	// queue's own lock. mu is never held across network I/O or a user
	// callback.
	mu sync.Mutex
	// Guarded by mu.
	closed    bool
	limits    Limits // SetLimits changes them, not cfg
	listeners map[net.Listener]struct{}
	conns     map[PeerID]*conn
	peers     map[PeerID]*peerInfo
	points    map[netip.AddrPort]*pointInfo
	// accepted counts handshakes past admission, not yet running: they
	// hold a connection slot so concurrent handshakes cannot overshoot
	// the limit (octez quirk 9).
	accepted int
	// pending are the incoming handshakes in flight; fails the scores of
	// the addresses whose handshakes stall; evicting the connections
	// evicted for a newcomer and not yet torn down, whose slots are
	// already given away.
	pending  pendingSet
	fails    failScores
	evicting int
	// closedStat sums the traffic of connections that have ended.
	closedStat ConnStat
	acl        *acl
	sched      *sched.Scheduler
	// dial limits the outgoing attempts (dialer.go); dialing counts the
	// attempts past requestPoint that admit has not looked at yet: with
	// accepted, they hold connection slots.
	dial    dialer
	dialing int
	// latestAccepted and latestSuccessful are the times of the last swap
	// started and the last one that succeeded (octez, for swap_linger).
	latestAccepted, latestSuccessful time.Time
	// myPoints are addresses found to be our own (octez my_id_points).
	myPoints []netip.AddrPort
}

// edge is what the typed layer lends the core: the only calls where a
// connection meets Msg and ConnMeta.
type edge interface {
	// attach makes the typed half of a new connection, the inbox its
	// reader delivers application messages to.
	attach(c *conn, inMsgs, inBytes int) inbox
	// established runs the Conns().OnNew hooks, outside every lock.
	established(c *conn)
}

// newCore checks cfg and builds the core; maxMessage is the largest whole
// message the message set allows.
func newCore(cfg Config, versions socket.Versions, maxMessage int, pm peerMetaHooks, cm connMetaHooks, e edge) (*core, error) {
	if versions.ChainName == "" {
		versions.ChainName = DefaultChainName
	}
	if len(versions.DistributedDB) == 0 {
		versions.DistributedDB = DefaultDistributedDBVersions
	}
	versions.P2P = p2pVersions
	target, err := powTarget(cfg.ProofOfWorkTarget)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: ProofOfWorkTarget: %w", err)
	}
	// Peers of the same settings would refuse this node, and greylist
	// its address: say so now (octez checks its identity at start too).
	if err := cfg.Identity.CheckProofOfWork(cfg.ProofOfWorkTarget); err != nil {
		return nil, fmt.Errorf("p2ppool: config: the identity does not meet ProofOfWorkTarget %v: %w", cfg.ProofOfWorkTarget, err)
	}
	acl, err := newACL(&cfg)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: %w", err)
	}
	sch, err := sched.New(sched.Config{Limits: cfg.Limits.sched()})
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: %w", err)
	}
	id := cfg.Identity
	p := &core{
		acl:      acl,
		sched:    sch,
		cfg:      cfg,
		edge:     e,
		peerMeta: pm,
		connMeta: cm,
		versions: versions,
		sockCfg: socket.Config{
			PublicKey:        crypto.PublicKey(id.PublicKey),
			SecretKey:        crypto.SecretKey(id.SecretKey),
			KeyCache:         crypto.NewChannelKeyCache((*crypto.SecretKey)(&id.SecretKey), 0),
			ProofOfWorkStamp: crypto.Nonce(id.ProofOfWorkStamp),
			Version:          versions.Announced(),
			PowTarget:        target,
			BinaryChunksSize: cfg.Wire.BinaryChunksSize,
			ChunkPerMessage:  cfg.Wire.ChunkPerMessage,
			MaxMessageSize:   maxMessage,
		},
		self:         id.PeerID,
		groups:       newNetGroups(&cfg),
		inBudget:     newInBudget(cfg.Budgets.TotalIncomingQueueSize),
		outBudget:    newOutBudget(cfg.Budgets.TotalOutgoingQueueSize),
		evictSeed:    maphash.MakeSeed(),
		log:          cfg.Logger,
		done:         make(chan struct{}),
		maintainReq:  make(chan struct{}, 1),
		maintainDone: make(chan struct{}),
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[PeerID]*conn),
		peers:        make(map[PeerID]*peerInfo),
		points:       make(map[netip.AddrPort]*pointInfo),
	}
	p.limits = p.cfg.Limits
	p.dial.init(p.cfg.Dial)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.port.Store(uint32(cfg.Network.ListeningPort))
	for _, pt := range cfg.Network.TrustedPoints {
		p.registerPointLocked(pt).Trusted = true
	}
	if err := p.loadPeers(); err != nil {
		sch.Close()
		return nil, err
	}
	return p, nil
}

// start starts the pool's background goroutines.
func (p *core) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.goLocked(p.housekeeping)
	if p.maintenanceEnabled() {
		// The maintenance worker is one a Maintain from its callbacks
		// would wait for.
		p.goLocked(func() {
			defer p.track(poolGoroutine{maint: true})()
			p.maintenance()
		})
	}
}

// housekeeping is the pool's background goroutine: it ages the address
// greylist (octez's countdown every cleanup delay / 16) and saves the
// peers file periodically.
func (p *core) housekeeping() {
	countdown := time.NewTicker(greylist.CountdownPeriod(p.cfg.Greylist.Timeout))
	defer countdown.Stop()
	var save <-chan time.Time
	if p.cfg.PeersFile.Path != "" && p.cfg.PeersFile.SavePeriod > 0 {
		t := time.NewTicker(p.cfg.PeersFile.SavePeriod)
		defer t.Stop()
		save = t.C
	}
	for {
		select {
		case <-countdown.C:
			p.greylistCountdown()
		case <-save:
			if err := p.savePeers(); err != nil {
				p.log.Error("periodic save of the peers file failed", "err", err)
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// publishLocked publishes e to the watchers. p.mu must be held: events are
// published in the order of the table changes they report, after them.
func (p *core) publishLocked(e Event) { p.events.publish(e) }

// publish publishes an event that reports no table change.
func (p *core) publish(e Event) { p.events.publish(e) }

// config is Pool.Config.
func (p *core) config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cfg
	c.Limits = p.limits
	return c
}

// lockOpen locks p.mu if the pool is open; once Close or Shutdown has
// begun it returns ErrPoolClosed, unlocked.
func (p *core) lockOpen() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	return nil
}

// isClosed reports whether Close or Shutdown has begun.
func (p *core) isClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// enter registers a call that may start goroutines or connections, and
// its goroutine as one of the pool's; it fails once the pool is closing.
// Pair with p.leave(untrack).
func (p *core) enter() (untrack func(), err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	p.wg.Add(1)
	p.mu.Unlock()
	return p.track(poolGoroutine{}), nil
}

// goLocked starts f on a goroutine owned by the pool. p.mu must be held
// and the pool open.
func (p *core) goLocked(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.track(poolGoroutine{})()
		f()
	}()
}

// serve is Pool.Serve.
func (p *core) serve(ln net.Listener) error {
	// The listener is registered under the same lock that checks the
	// pool is open: registered after the check, it could miss
	// beginClose, and Close would wait forever for this Accept loop.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ln.Close()
		return ErrPoolClosed
	}
	p.wg.Add(1)
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer p.leave(p.track(poolGoroutine{}))
	testHookServeRegistered()
	if addr, ok := ln.Addr().(*net.TCPAddr); ok {
		p.port.CompareAndSwap(0, uint32(addr.Port))
	}
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-p.done: // beginClose closed the listener
				return ErrPoolClosed
			default:
			}
			if isTemporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				p.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-p.ctx.Done():
					return ErrPoolClosed
				}
			}
			return fmt.Errorf("p2ppool: accept: %w", err)
		}
		delay = 0
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return ErrPoolClosed
		}
		p.goLocked(func() { p.accept(p.ctx, nc) })
		p.mu.Unlock()
	}
}

// testHookServeRegistered runs once Serve has registered its listener; a
// test uses it to close the pool at that moment (as net/http's
// testHookServerServe).
var testHookServeRegistered = func() {}

// isTemporaryAcceptError reports accept errors worth a retry after a pause
// (out of file descriptors, a connection aborted before accept), as octez's
// welcome worker and net/http do.
func isTemporaryAcceptError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS)
}

// broadcastBootstrap is Pool.BroadcastBootstrap.
func (p *core) broadcastBootstrap() {
	p.broadcast(bootstrapMsg, func(c *conn) bool { return !c.info.PrivateNode }, func(c *conn) {
		// Only a Bootstrap that was queued is announced: one dropped on a
		// full queue is counted in Stats.Queues.Dropped instead.
		p.publish(Event{Kind: EventBootstrapSent, Peer: c.info.Peer})
	})
}

var (
	bootstrapMsg  = (&wire.Message{Tag: wire.TagBootstrap}).Append(nil)
	disconnectMsg = (&wire.Message{Tag: wire.TagDisconnect}).Append(nil)
)

// connections returns the established connections, oldest first.
func (p *core) connections() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *conn) int { return cmp.Compare(a.info.ID, b.info.ID) })
	return out
}

// broadcast queues the encoded message b on the connections to that
// match, never waiting. A message larger than smallMessage stays one
// copy, shared read-only by every writer and charged once to the
// outgoing budget until the last writer is done with it; if the budget
// has no room for it, it is dropped everywhere. A small one is copied
// into each queue's open arena, which is what it costs there anyway.
// queued, if not nil, is called for each connection the message was
// queued on (not under the pool's lock). It returns how many those were.
func (p *core) broadcast(b []byte, to func(*conn) bool, queued func(*conn)) int {
	var sh *sharedOut
	if len(b) > smallMessage {
		var ok bool
		if sh, ok = newSharedOut(p.outBudget, len(b)); ok {
			defer sh.unref()
		}
	}
	n := 0
	for _, c := range p.connections() {
		if !to(c) {
			continue
		}
		if len(b) > smallMessage && sh == nil {
			c.countDrop(ErrOutgoingBudgetFull)
			continue
		}
		if sh != nil {
			sh.ref() // the queue's, released with the item
		}
		if c.pushNow(outItem{b: b, sh: sh}) == nil {
			n++
			if queued != nil {
				queued(c)
			}
		}
	}
	return n
}

// onBootstrap answers a peer's Bootstrap with an Advertise of known public
// points (octez: nothing for private peers, in a closed network, without
// discovery, or with no points). The answer is the cached advertisement,
// built at most once per advertiseRefresh outside the pool lock, and not
// at all when the peer's queue has no room for it.
func (p *core) onBootstrap(c *conn) {
	if p.cfg.Network.ClosedNetwork || p.cfg.Network.DisablePeerDiscovery {
		return
	}
	p.publish(Event{Kind: EventBootstrapReceived, Peer: c.info.Peer})
	if c.info.PrivateNode {
		return
	}
	if c.outFull() {
		c.countDrop(ErrQueueFull)
		return
	}
	msg := p.advertisement(time.Now())
	if msg == nil {
		return
	}
	if c.pushNow(outItem{b: msg}) == nil {
		p.publish(Event{Kind: EventAdvertiseSent, Peer: c.info.Peer})
	}
}

// onAdvertise learns the points a peer advertised.
func (p *core) onAdvertise(from PeerID, pts []netip.AddrPort) {
	if p.cfg.Network.ClosedNetwork || p.cfg.Network.DisablePeerDiscovery {
		return
	}
	p.mu.Lock()
	p.publishLocked(Event{Kind: EventAdvertiseReceived, Peer: from})
	// The points are learned from the address of the connection that
	// brought them (the one whose reader calls this); once it has left
	// the table, they are not learned at all.
	if c := p.conns[from]; c != nil {
		p.registerNewPointsLocked(pts, c.remoteAddr)
	}
	p.mu.Unlock()
}

// removeConnection updates the tables once a connection has ended
// (octez disconnection bookkeeping).
func (p *core) removeConnection(c *conn) {
	now := time.Now()
	p.mu.Lock()
	registered := p.conns[c.info.Peer] == c
	if registered {
		delete(p.conns, c.info.Peer)
		if c.evicted {
			p.evicting--
		}
	}
	// Keep the traffic of ended connections in the pool's totals.
	cs := c.stat()
	p.closedStat.MsgsSent += cs.MsgsSent
	p.closedStat.MsgsRecv += cs.MsgsRecv
	p.closedStat.BytesSent += cs.BytesSent
	p.closedStat.BytesRecv += cs.BytesRecv
	if pi := p.peers[c.info.Peer]; pi != nil {
		if registered {
			c.saveBudgetsLocked(pi)
		}
		if pi.State == PeerRunning {
			pi.setDisconnected(now)
		}
	}
	if c.info.Point.IsValid() {
		if pi := p.points[c.info.Point]; pi != nil && pi.State == PointRunning && pi.Peer == c.info.Peer {
			pi.setDisconnected(&p.cfg.Reconnection, now)
		}
	}
	cause, _ := context.Cause(c.ctx).(*DisconnectError)
	p.publishLocked(Event{Kind: EventDisconnection, Peer: c.info.Peer, IDPoint: c.info.Point, Err: cause})
	if len(p.conns) < p.limits.MinConnections {
		// octez broadcast_too_few_connections (p2p_connect_handler.ml:249-250)
		p.events.broadcast(CondTooFewConnections)
		if p.maintenanceEnabled() {
			p.wakeMaintenance()
		}
	}
	p.mu.Unlock()
	p.log.Debug("disconnected", "peer", c.info.Peer, "point", c.info.Point, "remote", c.info.RemoteAddr, "conn", c.info.ID, "reason", cause)
}

// close is Pool.Close.
func (p *core) close() error {
	conns := p.beginClose()
	p.cancel()
	cause := &DisconnectError{Reason: ReasonPoolClosed}
	for _, c := range conns {
		c.end(cause, false)
	}
	if g, ok := p.gs.self(); ok && g.inWaitGroup() {
		// Called from a callback on one of the pool's goroutines: p.wg
		// counts the caller, or a goroutine that waits for it. Everything
		// is cut and cancelled; the goroutines exit once the callbacks
		// return, and the finisher then releases the rest.
		p.finishLater()
		return nil
	}
	p.wg.Wait()
	p.finish()
	p.waitFinisher()
	return nil
}

// beginClose marks the pool closed, stops the listeners and returns the
// connections to end. Idempotent.
func (p *core) beginClose() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
		for ln := range p.listeners {
			ln.Close()
		}
	}
	conns := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	return conns
}

// shutdown is Pool.Shutdown.
func (p *core) shutdown(ctx context.Context) error {
	self, _ := p.gs.self()
	conns := p.beginClose()
	// octez saves the peers before tearing down, so the file records the
	// connections as they were. Once, and not from MarshalJSON: the save
	// that called it is writing the file.
	var saveErr error
	if self.saving == 0 && p.shutdownSaved.CompareAndSwap(false, true) {
		saveErr = p.savePeers()
		if saveErr != nil {
			p.log.Error("saving the peers file failed", "err", saveErr)
		}
	}
	cause := &DisconnectError{Reason: ReasonPoolClosed}
	for _, c := range conns {
		// Record why first: the peer may hang up as soon as it has read
		// the Disconnect, and its hanging up must not become the reason.
		c.cause.CompareAndSwap(nil, cause)
		// The Disconnect goes behind what is queued even when the queue is
		// full: it is the last message, not one to drop.
		c.out.pushLast(outItem{b: disconnectMsg})
		c.end(cause, true)
	}
	if self.conn != nil {
		// Called from a callback on a connection's reader or writer:
		// that connection cannot end before this returns, nor may another
		// Shutdown wait for it (two callbacks would wait for each other).
		p.gs.hold(self.conn)
	}
	err := p.waitConns(ctx, conns)
	p.cancel()
	p.close()
	return errors.Join(err, saveErr)
}
