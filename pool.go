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

// Pool is the connection pool of a node (octez P2p_pool). It accepts and
// opens connections, runs the handshake and admission rules, and owns two
// goroutines per connection. All methods are safe for concurrent use.
//
// Msg is the application's message type, PeerMeta what it keeps per peer,
// ConnMeta what it exchanges in the handshake (Metadata for octez's).
type Pool[Msg, PeerMeta, ConnMeta any] struct {
	// Immutable after New.
	cfg      Config // with defaults applied; the limits in force are p.limits
	codec    *codec[Msg]
	peerMeta PeerMetaConfig[PeerMeta]
	connMeta ConnMetaConfig[ConnMeta]
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
	// refused counts inbound connections refused, by reason.
	refused [numRefusals]atomic.Uint64

	// inBudget bounds the incoming bytes held across connections.
	inBudget *inBudget

	// ready lists the connections with application messages queued, for
	// Read; it has its own lock, taken after a queue's.
	ready readyList[*Connection[Msg, PeerMeta, ConnMeta]]

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
	// flight that may start one (handshakes); Close waits for it.
	wg sync.WaitGroup

	// Lock order: mu, then a queue's own lock. mu is never held across
	// network I/O or a user callback.
	mu sync.Mutex
	// Guarded by mu.
	closed    bool
	limits    Limits // SetLimits changes them, not cfg
	listeners map[net.Listener]struct{}
	conns     map[PeerID]*Connection[Msg, PeerMeta, ConnMeta]
	peers     map[PeerID]*peerInfo[PeerMeta]
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
	closedStat PoolStat
	acl        *acl
	sched      *sched.Scheduler
	// latestAccepted and latestSuccessful are the times of the last swap
	// started and the last one that succeeded (octez, for swap_linger).
	latestAccepted, latestSuccessful time.Time
	// myPoints are addresses found to be our own (octez my_id_points).
	myPoints []netip.AddrPort
	hooks    []func(*Connection[Msg, PeerMeta, ConnMeta])
}

// New creates a pool. It checks the configuration and the message set
// (tags must be unique and outside the P2P range) and starts nothing: call
// Serve to accept connections and Connect to open them.
func New[Msg, PeerMeta, ConnMeta any](msgs MessageConfig[Msg], peerMeta PeerMetaConfig[PeerMeta], connMeta ConnMetaConfig[ConnMeta], cfg Config) (*Pool[Msg, PeerMeta, ConnMeta], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cd, err := newCodec(&msgs, cfg.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	cm, err := connMetaCodec(connMeta)
	if err != nil {
		return nil, err
	}
	versions := socket.Versions{ChainName: msgs.ChainName, DistributedDB: msgs.DistributedDBVersions, P2P: p2pVersions}
	if versions.ChainName == "" {
		versions.ChainName = DefaultChainName
	}
	if len(versions.DistributedDB) == 0 {
		versions.DistributedDB = DefaultDistributedDBVersions
	}
	target, err := powTarget(cfg.ProofOfWorkTarget)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: ProofOfWorkTarget: %w", err)
	}
	// Peers of the same settings would refuse this node, and greylist
	// its address: say so now (octez checks its identity at start too).
	if err := cfg.Identity.CheckProofOfWork(cfg.ProofOfWorkTarget); err != nil {
		return nil, fmt.Errorf("p2ppool: config: the identity does not meet ProofOfWorkTarget %v: %w", cfg.ProofOfWorkTarget, err)
	}
	localMeta := cm.Encode(nil, cm.Local())
	if len(localMeta) > socket.MaxChunkPayload {
		return nil, fmt.Errorf("p2ppool: conn meta config: local metadata of %d bytes does not fit one chunk", len(localMeta))
	}
	acl, err := newACL(&cfg)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: %w", err)
	}
	sch, err := sched.New(sched.Config{Limits: sched.Limits{
		MaxInflow: cfg.MaxDownloadSpeed, MaxOutflow: cfg.MaxUploadSpeed,
		ConnMaxInflow: cfg.MaxConnDownloadSpeed, ConnMaxOutflow: cfg.MaxConnUploadSpeed,
	}})
	if err != nil {
		return nil, fmt.Errorf("p2ppool: config: %w", err)
	}
	id := cfg.Identity
	p := &Pool[Msg, PeerMeta, ConnMeta]{
		acl:      acl,
		sched:    sch,
		cfg:      cfg,
		codec:    cd,
		peerMeta: peerMetaCodec(peerMeta),
		connMeta: cm,
		versions: versions,
		sockCfg: socket.Config{
			PublicKey:        crypto.PublicKey(id.PublicKey),
			SecretKey:        crypto.SecretKey(id.SecretKey),
			KeyCache:         crypto.NewChannelKeyCache((*crypto.SecretKey)(&id.SecretKey), 0),
			ProofOfWorkStamp: crypto.Nonce(id.ProofOfWorkStamp),
			Version:          versions.Announced(),
			PowTarget:        target,
			Metadata:         localMeta,
			BinaryChunksSize: cfg.BinaryChunksSize,
			ChunkPerMessage:  cfg.ChunkPerMessage,
			MaxMessageSize:   cd.maxMessage,
		},
		self:         id.PeerID,
		groups:       newNetGroups(&cfg),
		inBudget:     newInBudget(cfg.TotalIncomingQueueSize),
		evictSeed:    maphash.MakeSeed(),
		log:          cfg.Logger,
		done:         make(chan struct{}),
		maintainReq:  make(chan struct{}, 1),
		maintainDone: make(chan struct{}),
		ready:        newReadyList[*Connection[Msg, PeerMeta, ConnMeta]](),
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[PeerID]*Connection[Msg, PeerMeta, ConnMeta]),
		peers:        make(map[PeerID]*peerInfo[PeerMeta]),
		points:       make(map[netip.AddrPort]*pointInfo),
	}
	p.limits = limitsOf(&p.cfg)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.port.Store(uint32(cfg.ListeningPort))
	for _, pt := range cfg.TrustedPoints {
		p.registerPointLocked(pt).Trusted = true
	}
	if err := p.loadPeers(); err != nil {
		sch.Close()
		return nil, err
	}
	p.goLocked(p.housekeeping)
	if p.maintenanceEnabled() {
		p.goLocked(p.maintenance)
	}
	return p, nil
}

// housekeeping is the pool's background goroutine: it ages the address
// greylist (octez's countdown every cleanup delay / 16) and saves the
// peers file periodically.
func (p *Pool[Msg, PeerMeta, ConnMeta]) housekeeping() {
	countdown := time.NewTicker(greylist.CountdownPeriod(p.cfg.GreylistTimeout))
	defer countdown.Stop()
	var save <-chan time.Time
	if p.cfg.PeersFile != "" && p.cfg.PeersFileSavePeriod > 0 {
		t := time.NewTicker(p.cfg.PeersFileSavePeriod)
		defer t.Stop()
		save = t.C
	}
	for {
		select {
		case <-countdown.C:
			p.greylistCountdown()
		case <-save:
			if err := p.SavePeers(); err != nil {
				p.log.Error("periodic save of the peers file failed", "err", err)
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// publishLocked publishes e to the watchers. p.mu must be held: events are
// published in the order of the table changes they report, after them.
func (p *Pool[Msg, PeerMeta, ConnMeta]) publishLocked(e Event) { p.events.publish(e) }

// publish publishes an event that reports no table change.
func (p *Pool[Msg, PeerMeta, ConnMeta]) publish(e Event) { p.events.publish(e) }

// Watch subscribes to the pool's events (octez's pool watcher) until ctx
// ends, the watcher is closed, or the pool closes. The watcher buffers up
// to buffer events (DefaultWatchBuffer if 0); a watcher that falls behind
// loses events, and finds an EventsDropped marker in their place, but
// never slows the pool or other watchers.
//
// Ordering: events come in the order the pool's tables changed, each
// published after the change it reports, so a watcher that sees
// EventConnectionEstablished finds the connection in Connections.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Watch(ctx context.Context, buffer int) *Watcher {
	return p.events.watch(ctx, buffer)
}

// Config returns the pool's configuration, defaults applied, with the
// limits in force (see SetLimits).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limits.apply(p.cfg)
}

// Identity returns the pool's identity.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Identity() *Identity { return p.cfg.Identity }

// Done is closed when Close or Shutdown begins.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Done() <-chan struct{} { return p.done }

// enter registers a call that may start goroutines or connections; it
// fails once the pool is closing. Pair with p.wg.Done.
func (p *Pool[Msg, PeerMeta, ConnMeta]) enter() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPoolClosed
	}
	p.wg.Add(1)
	return nil
}

// goLocked starts f on a goroutine owned by the pool. p.mu must be held
// and the pool open.
func (p *Pool[Msg, PeerMeta, ConnMeta]) goLocked(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// OnNewConnection registers a hook run for every new connection, in the
// goroutine that established it, before Connect or Accept return; hooks
// run newest first, as in octez. A hook must not block for long: it
// delays the handshake that triggered it.
func (p *Pool[Msg, PeerMeta, ConnMeta]) OnNewConnection(hook func(*Connection[Msg, PeerMeta, ConnMeta])) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks = append(p.hooks, hook)
}

// Serve accepts connections on ln until ln fails or the pool closes, and
// runs each handshake on its own goroutine (octez welcome worker). It
// returns ErrPoolClosed after Close or Shutdown. The first TCP listener
// also sets the announced listening port if Config.ListeningPort is zero;
// connections opened before Serve has started announce no port, so a node
// that dials right away should set Config.ListeningPort.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Serve(ln net.Listener) error {
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
	defer p.wg.Done()
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
		p.goLocked(func() { p.Accept(p.ctx, nc) })
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

// ActiveConnections is the number of established connections.
func (p *Pool[Msg, PeerMeta, ConnMeta]) ActiveConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Connections returns the established connections.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Connections() []*Connection[Msg, PeerMeta, ConnMeta] {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Connection[Msg, PeerMeta, ConnMeta], 0, len(p.conns))
	for _, c := range p.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Connection[Msg, PeerMeta, ConnMeta]) int { return cmp.Compare(a.info.ID, b.info.ID) })
	return out
}

// Connection returns the connection with peer, if any.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Connection(peer PeerID) (*Connection[Msg, PeerMeta, ConnMeta], bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.conns[peer]
	return c, ok
}

// Disconnect ends conn; see Connection.Disconnect.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Disconnect(ctx context.Context, conn *Connection[Msg, PeerMeta, ConnMeta], wait bool) error {
	return conn.Disconnect(ctx, wait)
}

// Read returns the next application message from any connection, with
// the connection it came from (octez recv_any), waiting for one. It is
// fair: connections with messages queued take turns, one message each,
// so a chatty peer cannot starve the others. It fails with ctx's error,
// or ErrPoolClosed once Close or Shutdown has begun. It may be mixed with
// Connection.Read: each message goes to one caller.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Read(ctx context.Context) (*Connection[Msg, PeerMeta, ConnMeta], Msg, error) {
	var zero Msg
	for {
		select {
		case <-p.done:
			return nil, zero, ErrPoolClosed
		default:
		}
		for {
			c, ok := p.ready.next()
			if !ok {
				break
			}
			m, ok, more := c.in.tryPop()
			if more {
				p.ready.add(c) // its turn again, behind the others
			}
			if ok {
				return c, m, nil
			}
		}
		select {
		case <-p.ready.sig:
		case <-p.done:
			return nil, zero, ErrPoolClosed
		case <-ctx.Done():
			return nil, zero, ctx.Err()
		}
	}
}

// readyList is a FIFO of connections with messages queued, each listed
// at most once. Safe for concurrent use.
type readyList[C comparable] struct {
	mu sync.Mutex
	// Guarded by mu.
	list   []C
	listed map[C]bool
	// sig holds a wake-up token for a waiting Read; never closed.
	sig chan struct{}
}

func newReadyList[C comparable]() readyList[C] {
	return readyList[C]{listed: make(map[C]bool), sig: make(chan struct{}, 1)}
}

// add lists c at the back, unless it is listed already.
func (r *readyList[C]) add(c C) {
	r.mu.Lock()
	if !r.listed[c] {
		r.listed[c] = true
		r.list = append(r.list, c)
	}
	r.mu.Unlock()
	signal(r.sig)
}

// remove unlists c.
func (r *readyList[C]) remove(c C) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listed[c] {
		delete(r.listed, c)
		r.list = slices.DeleteFunc(r.list, func(x C) bool { return x == c })
	}
}

// next takes the connection at the front, passing the wake-up token on
// when others remain.
func (r *readyList[C]) next() (C, bool) {
	var zero C
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		return zero, false
	}
	c := r.list[0]
	r.list = append(r.list[:0], r.list[1:]...)
	delete(r.listed, c)
	if len(r.list) > 0 {
		signal(r.sig)
	}
	return c, true
}

// WriteAll queues msg on every established connection but those to the
// peers in except (a gossip's sender, say), without ever blocking (octez
// broadcast): msg is encoded once, and a connection whose outgoing queue
// is full is skipped, its drop counted. It returns the number of
// connections msg was queued on, or ErrPoolClosed once Close or Shutdown
// has begun.
func (p *Pool[Msg, PeerMeta, ConnMeta]) WriteAll(msg Msg, except ...PeerID) (int, error) {
	select {
	case <-p.done:
		return 0, ErrPoolClosed
	default:
	}
	b, err := p.codec.appendMessage(nil, msg)
	if err != nil {
		return 0, err
	}
	return p.broadcast(b, func(c *Connection[Msg, PeerMeta, ConnMeta]) bool { return !slices.Contains(except, c.info.Peer) }), nil
}

// BroadcastBootstrap asks every established, non-private peer for points
// (a Bootstrap message each, dropped where the queue is full).
func (p *Pool[Msg, PeerMeta, ConnMeta]) BroadcastBootstrap() {
	p.broadcast(bootstrapMsg, func(c *Connection[Msg, PeerMeta, ConnMeta]) bool {
		if c.info.PrivateNode {
			return false
		}
		p.publish(Event{Kind: EventBootstrapSent, Peer: c.info.Peer})
		return true
	})
}

var (
	bootstrapMsg  = (&wire.Message{Tag: wire.TagBootstrap}).Append(nil)
	disconnectMsg = (&wire.Message{Tag: wire.TagDisconnect}).Append(nil)
)

// broadcast queues the encoded message b, shared read-only by every
// writer, on the connections to that match.
func (p *Pool[Msg, PeerMeta, ConnMeta]) broadcast(b []byte, to func(*Connection[Msg, PeerMeta, ConnMeta]) bool) int {
	n := 0
	for _, c := range p.Connections() {
		if to(c) && c.pushNow(outItem{b: b}) == nil {
			n++
		}
	}
	return n
}

// onBootstrap answers a peer's Bootstrap with an Advertise of known public
// points (octez: nothing for private peers, in a closed network, without
// discovery, or with no points).
func (p *Pool[Msg, PeerMeta, ConnMeta]) onBootstrap(c *Connection[Msg, PeerMeta, ConnMeta]) {
	if p.cfg.ClosedNetwork || p.cfg.DisablePeerDiscovery {
		return
	}
	p.publish(Event{Kind: EventBootstrapReceived, Peer: c.info.Peer})
	if c.info.PrivateNode {
		return
	}
	p.mu.Lock()
	pts := p.knownPointsLocked(maxAdvertised)
	p.mu.Unlock()
	if len(pts) == 0 {
		return
	}
	m := wire.Message{Tag: wire.TagAdvertise, Points: pts}
	if c.pushNow(outItem{b: m.Append(nil)}) == nil {
		p.publish(Event{Kind: EventAdvertiseSent, Peer: c.info.Peer})
	}
}

// onAdvertise learns the points a peer advertised.
func (p *Pool[Msg, PeerMeta, ConnMeta]) onAdvertise(from PeerID, pts []netip.AddrPort) {
	if p.cfg.ClosedNetwork || p.cfg.DisablePeerDiscovery {
		return
	}
	p.mu.Lock()
	p.publishLocked(Event{Kind: EventAdvertiseReceived, Peer: from})
	p.registerNewPointsLocked(pts)
	p.mu.Unlock()
}

// removeConnection updates the tables once a connection has ended
// (octez disconnection bookkeeping).
func (p *Pool[Msg, PeerMeta, ConnMeta]) removeConnection(c *Connection[Msg, PeerMeta, ConnMeta]) {
	now := time.Now()
	p.mu.Lock()
	if p.conns[c.info.Peer] == c {
		delete(p.conns, c.info.Peer)
		if c.evicted {
			p.evicting--
		}
	}
	// Keep the traffic of ended connections in the pool's totals.
	cs := c.Stat()
	p.closedStat.MsgsSent += cs.MsgsSent
	p.closedStat.MsgsRecv += cs.MsgsRecv
	p.closedStat.BytesSent += cs.BytesSent
	p.closedStat.BytesRecv += cs.BytesRecv
	if pi := p.peers[c.info.Peer]; pi != nil && pi.State == PeerRunning {
		pi.setDisconnected(now)
	}
	if c.info.Point.IsValid() {
		if pi := p.points[c.info.Point]; pi != nil && pi.State == PointRunning && pi.Peer == c.info.Peer {
			pi.setDisconnected(&p.cfg.Reconnection, now)
		}
	}
	cause, _ := context.Cause(c.ctx).(*DisconnectError)
	p.publishLocked(Event{Kind: EventDisconnection, Peer: c.info.Peer, IDPoint: c.info.Point, Err: cause})
	if len(p.conns) < p.limits.MinConnections && p.maintenanceEnabled() {
		p.wakeMaintenance() // octez trigger too_few_connections
	}
	p.mu.Unlock()
	p.log.Debug("disconnected", "peer", c.info.Peer, "point", c.info.Point, "conn", c.info.ID, "reason", cause)
}

// Close closes the pool at once: listeners, handshakes and connections are
// cut, and Close returns once every goroutine the pool started has
// exited. Later calls return ErrPoolClosed; Close itself is idempotent.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Close() error {
	conns := p.beginClose()
	p.cancel()
	cause := &DisconnectError{Reason: ReasonPoolClosed}
	for _, c := range conns {
		c.end(cause, false)
	}
	p.wg.Wait()
	p.sched.Close()
	p.events.close()
	return nil
}

// beginClose marks the pool closed, stops the listeners and returns the
// connections to end. Idempotent.
func (p *Pool[Msg, PeerMeta, ConnMeta]) beginClose() []*Connection[Msg, PeerMeta, ConnMeta] {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
		for ln := range p.listeners {
			ln.Close()
		}
	}
	conns := make([]*Connection[Msg, PeerMeta, ConnMeta], 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	return conns
}

// Shutdown closes the pool gracefully (octez destroy): it stops accepting,
// tells every peer Disconnect after what is already queued for it, and
// waits for the connections to end, then closes. If ctx ends first, the
// rest is cut as by Close and ctx's error returned.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Shutdown(ctx context.Context) error {
	conns := p.beginClose()
	// octez saves the peers before tearing down, so the file records the
	// connections as they were.
	saveErr := p.SavePeers()
	if saveErr != nil {
		p.log.Error("saving the peers file failed", "err", saveErr)
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
	var err error
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	p.cancel()
	p.Close()
	return errors.Join(err, saveErr)
}
