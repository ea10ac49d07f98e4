package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// core is the pool under its typed layer: it wires the owned parts below
// together and runs the flows that cross them (accepting, dialling,
// establishing and ending a connection, closing the pool). Each part is a
// type in its own file that owns its state and says what guards it:
//
//	tables     peers and points with their histories (tables.go)
//	registry   the running connections and listeners (registry.go)
//	admission  inbound caps, pending handshakes, eviction (admission.go)
//	dialer     outgoing attempts: limiter, scope rule (dialer.go)
//	acl        bans and greylists (acl.go)
//	maintainer the maintenance worker (maintenance.go)
//	swapper    swap requests and acks (swap.go)
//	lifecycle  the pool's goroutines, context and close (lifecycle.go)
//	counters   what Stats counts outside the tables (counters.go)
//	peersFile  the peers file (peersfile.go)
//
// The parts that change together in one decision (tables, registry,
// admission, dialer, ACL, the maintenance's counters and the swap times)
// share one lock, mu, the pool lock; the lock order is in locks.go. Pool
// adds the types where messages and metadata meet bytes.
type core struct {
	// Immutable after newCore.
	cfg      Config // with defaults applied; the limits in force are p.limits
	edge     edge
	connMeta connMetaHooks
	hello    localHello
	log      *slog.Logger
	sched    *sched.Scheduler

	// The parts, made by newCore; each holds pointers to the parts it
	// uses.
	life      *lifecycle
	count     *counters
	tab       *tables
	reg       *registry
	adm       *admission
	dial      *dialer
	acl       *acl
	maint     *maintainer
	hk        housekeeping
	swaps     *swapper
	peersFile *peersFile
	// events fans events out to watchers (its own lock, locks.go).
	events *eventHub
	// adv is the cached answer to Bootstrap (control.go).
	adv *advertiseCache
	// inBudget and outBudget bound the incoming and outgoing bytes held
	// across connections (their own locks or atomics).
	inBudget  *inBudget
	outBudget *outBudget

	// mu is the pool lock (locks.go).
	mu poolMutex
	// Guarded by mu.
	limits Limits // SetLimits changes them, not cfg
}

// localHello is what this node says of itself in its handshakes.
type localHello struct {
	// Immutable after newCore.
	versions socket.Versions
	sock     socket.Config // Port is filled per handshake from port
	// port is the listening port announced in connection messages; Serve
	// sets it from its listener when Config.Network.ListeningPort is zero.
	port atomic.Uint32
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
	sch, err := sched.New(sched.Config{Limits: cfg.Limits.sched(), NoTicker: true}) // housekeeping ticks it
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: %w", err)
	}
	id := cfg.Identity
	p := &core{
		cfg:       cfg,
		edge:      e,
		connMeta:  cm,
		log:       cfg.Logger,
		sched:     sch,
		events:    new(eventHub),
		inBudget:  newInBudget(cfg.Budgets.TotalIncomingQueueSize),
		outBudget: newOutBudget(cfg.Budgets.TotalOutgoingQueueSize),
	}
	p.hello.versions = versions
	p.hello.sock = socket.Config{
		PublicKey:        crypto.PublicKey(id.PublicKey),
		SecretKey:        crypto.SecretKey(id.SecretKey),
		KeyCache:         crypto.NewChannelKeyCache((*crypto.SecretKey)(&id.SecretKey), 0),
		ProofOfWorkStamp: crypto.Nonce(id.ProofOfWorkStamp),
		Version:          versions.Announced(),
		PowTarget:        target,
		BinaryChunksSize: cfg.Wire.BinaryChunksSize,
		ChunkPerMessage:  cfg.Wire.ChunkPerMessage,
		MaxMessageSize:   maxMessage,
	}
	p.hello.port.Store(uint32(cfg.Network.ListeningPort))
	p.limits = p.cfg.Limits
	p.wire(acl, pm)
	for _, pt := range cfg.Network.TrustedPoints {
		p.mu.Lock()
		p.tab.registerPointLocked(pt).Trusted = true
		p.mu.Unlock()
	}
	if err := p.peersFile.load(); err != nil {
		sch.Close()
		return nil, err
	}
	return p, nil
}

// wire makes the parts and gives each the pointers to the parts it uses:
// the one place where the dependencies between parts are set.
func (p *core) wire(acl *acl, pm peerMetaHooks) {
	mu, cfg := &p.mu, &p.cfg
	p.life = newLifecycle(mu, p.sched, p.events)
	p.count = &counters{metrics: cfg.Metrics, log: p.log}
	p.tab = &tables{mu: mu, cfg: cfg, peerMeta: pm, events: p.events}
	p.reg = newRegistry(mu, p.outBudget)
	p.dial = newDialer(mu, cfg, p.log, p.life.done)
	p.adm = &admission{mu: mu, cfg: cfg, log: p.log, limits: &p.limits, groups: newNetGroups(cfg), evictSeed: maphash.MakeSeed()}
	p.acl = acl
	p.maint = newMaintainer(mu, cfg, &p.limits)
	p.swaps = &swapper{mu: mu, cfg: cfg}
	p.peersFile = &peersFile{pool: mu, cfg: cfg}
	p.adv = &advertiseCache{pool: mu}

	p.tab.init(p.dial, p.acl)
	p.dial.tab, p.dial.reg, p.dial.acl, p.dial.events, p.dial.limits = p.tab, p.reg, p.acl, p.events, &p.limits
	p.adm.tab, p.adm.reg, p.adm.acl, p.adm.events = p.tab, p.reg, p.acl, p.events
	p.acl.pool, p.acl.tab, p.acl.reg = mu, p.tab, p.reg
	p.maint.life, p.maint.tab, p.maint.reg, p.maint.dial, p.maint.acl, p.maint.events, p.maint.swaps =
		p.life, p.tab, p.reg, p.dial, p.acl, p.events, p.swaps
	p.maint.attempt, p.maint.bootstrap = p.attempt, p.broadcastBootstrap
	p.swaps.life, p.swaps.tab, p.swaps.reg, p.swaps.dial, p.swaps.events = p.life, p.tab, p.reg, p.dial, p.events
	p.swaps.attempt = p.attempt
	p.peersFile.life, p.peersFile.tab = p.life, p.tab
	p.adv.tab, p.adv.count = p.tab, p.count
}

// start starts the pool's periodic work: the housekeeping, and the
// maintenance with a first run at once. Both wait on timers, on no
// goroutine of their own: an idle pool runs none.
func (p *core) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hk.startLocked(p, time.Now())
	if maintains(&p.cfg) {
		p.maint.startLocked()
	}
}

// publishLocked publishes e to the watchers. The pool lock must be held:
// events are published in the order of the table changes they report,
// after them.
func (p *core) publishLocked(e Event) {
	p.mu.assertHeld()
	p.events.publish(e)
}

// config is Pool.Config.
func (p *core) config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cfg
	c.Limits = p.limits
	return c
}

// lockOpen takes the pool lock if the pool is open; once Close or Shutdown has
// begun it returns ErrPoolClosed, unlocked.
func (p *core) lockOpen() error {
	p.mu.Lock()
	if p.reg.closed {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	return nil
}

// enter registers a call that may start goroutines or connections, and
// its goroutine as one of the pool's; it fails once the pool is closing.
// Pair with p.life.leave(untrack).
func (p *core) enter() (registration, error) {
	p.mu.Lock()
	if p.reg.closed {
		p.mu.Unlock()
		return registration{}, ErrPoolClosed
	}
	p.life.wg.Add(1)
	p.mu.Unlock()
	return p.life.track(poolGoroutine{}), nil
}

// serve is Pool.Serve.
func (p *core) serve(ln net.Listener) error {
	// The listener is registered under the same lock that checks the
	// pool is open: registered after the check, it could miss
	// beginClose, and Close would wait forever for this Accept loop.
	p.mu.Lock()
	if p.reg.closed {
		p.mu.Unlock()
		ln.Close()
		return ErrPoolClosed
	}
	p.life.wg.Add(1)
	p.reg.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer p.life.leave(p.life.track(poolGoroutine{}))
	testHookServeRegistered()
	if addr, ok := ln.Addr().(*net.TCPAddr); ok {
		p.hello.port.CompareAndSwap(0, uint32(addr.Port))
	}
	defer func() {
		p.mu.Lock()
		delete(p.reg.listeners, ln)
		p.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-p.life.done: // beginClose closed the listener
				return ErrPoolClosed
			default:
			}
			if isTemporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				p.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-p.life.ctx.Done():
					return ErrPoolClosed
				}
			}
			return fmt.Errorf("p2ppool: accept: %w", err)
		}
		delay = 0
		p.mu.Lock()
		if p.reg.closed {
			p.mu.Unlock()
			nc.Close()
			return ErrPoolClosed
		}
		p.life.goLocked(poolGoroutine{}, func() {
			growStack()
			p.accept(p.life.ctx, nc)
		})
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
	p.reg.broadcast(bootstrapMsg, func(c *conn) bool { return !c.info.PrivateNode }, func(c *conn) {
		// Only a Bootstrap that was queued is announced: one dropped on a
		// full queue is counted in Stats.Queues.Dropped instead.
		p.events.publish(Event{Kind: EventBootstrapSent, Peer: c.info.Peer})
	})
}

var (
	bootstrapMsg  = (&wire.Message{Tag: wire.TagBootstrap}).Append(nil)
	disconnectMsg = (&wire.Message{Tag: wire.TagDisconnect}).Append(nil)
)

// onBootstrap answers a peer's Bootstrap with an Advertise of known public
// points (octez: nothing for private peers, in a closed network, without
// discovery, or with no points). The answer is the cached advertisement,
// built at most once per advertiseRefresh outside the pool lock, and not
// at all when the peer's queue has no room for it.
func (p *core) onBootstrap(c *conn) {
	if p.cfg.Network.ClosedNetwork || p.cfg.Network.DisablePeerDiscovery {
		return
	}
	p.events.publish(Event{Kind: EventBootstrapReceived, Peer: c.info.Peer})
	if c.info.PrivateNode {
		return
	}
	if c.outFull() {
		c.countDrop(ErrQueueFull)
		return
	}
	msg := p.adv.advertisement(time.Now())
	if msg == nil {
		return
	}
	if c.pushNow(outItem{b: msg}) == nil {
		p.events.publish(Event{Kind: EventAdvertiseSent, Peer: c.info.Peer})
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
	if c := p.reg.conns[from]; c != nil {
		p.tab.registerNewPointsLocked(pts, c.remoteAddr)
	}
	p.mu.Unlock()
}

// removeConnection updates the tables once a connection has ended
// (octez disconnection bookkeeping).
func (p *core) removeConnection(c *conn) {
	now := time.Now()
	p.mu.Lock()
	registered := p.reg.endedLocked(c)
	if pi := p.tab.peers[c.info.Peer]; pi != nil {
		if registered {
			c.saveBudgetsLocked(pi)
		}
		if pi.State == PeerRunning {
			pi.setDisconnected(now)
		}
	}
	if c.info.Point.IsValid() {
		if pi := p.tab.points[c.info.Point]; pi != nil && pi.State == PointRunning && pi.Peer == c.info.Peer {
			pi.setDisconnected(&p.cfg.Reconnection, now)
		}
	}
	cause, _ := context.Cause(c.ctx).(*DisconnectError)
	p.publishLocked(Event{Kind: EventDisconnection, Peer: c.info.Peer, IDPoint: c.info.Point, Err: cause})
	if len(p.reg.conns) < p.limits.MinConnections {
		// octez broadcast_too_few_connections (p2p_connect_handler.ml:249-250)
		p.events.broadcast(CondTooFewConnections)
		if maintains(&p.cfg) {
			p.maint.wakeLocked()
		}
	}
	p.mu.Unlock()
	p.logDisconnected(c, cause)
}

// logDisconnected logs a connection's end at debug level. It asks the
// logger first: the arguments would otherwise be boxed, three allocations
// at every connection's end, for a record that is dropped.
func (p *core) logDisconnected(c *conn, cause *DisconnectError) {
	if !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	p.log.Debug("disconnected", "peer", c.info.Peer, "point", c.info.Point, "remote", c.info.RemoteAddr, "conn", c.info.ID, "reason", cause)
}

// close is Pool.Close.
func (p *core) close() error {
	conns := p.beginClose()
	p.life.cancel(ErrPoolClosed)
	cause := &DisconnectError{Reason: ReasonPoolClosed}
	for _, c := range conns {
		c.end(cause, false)
	}
	if g, ok := p.life.gs.self(); ok && g.inWaitGroup() {
		// Called from a callback on one of the pool's goroutines: p.life.wg
		// counts the caller, or a goroutine that waits for it. Everything
		// is cut and cancelled; the goroutines exit once the callbacks
		// return, and the finisher then releases the rest.
		p.life.finishLater()
		return nil
	}
	p.life.wg.Wait()
	p.life.finish()
	p.life.waitFinisher()
	return nil
}

// beginClose marks the pool closed, stops the listeners and returns the
// connections to end. Idempotent.
func (p *core) beginClose() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reg.closed {
		p.reg.closed = true
		close(p.life.done)
		p.hk.timer.stopLocked(p.life)
		if p.maint.idle != nil {
			p.maint.idle.stopLocked(p.life)
		}
		for ln := range p.reg.listeners {
			ln.Close()
		}
	}
	return p.reg.connectionsLocked()
}

// shutdown is Pool.Shutdown.
func (p *core) shutdown(ctx context.Context) error {
	self, _ := p.life.gs.self()
	conns := p.beginClose()
	// octez saves the peers before tearing down, so the file records the
	// connections as they were. Once, and not from MarshalJSON: the save
	// that called it is writing the file.
	var saveErr error
	if self.saving == 0 && p.peersFile.saved.CompareAndSwap(false, true) {
		saveErr = p.peersFile.save()
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
		p.life.gs.hold(self.conn)
	}
	err := p.life.waitConns(ctx, conns)
	p.life.cancel(ErrPoolClosed)
	p.close()
	return errors.Join(err, saveErr)
}
