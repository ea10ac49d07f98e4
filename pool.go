package p2ppool

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/p2ppool/p2ppool/internal/socket"
)

// Pool is the connection pool of a node (octez P2p_pool). It accepts and
// opens connections, runs the handshake and admission rules, and owns two
// goroutines per connection. All methods are safe for concurrent use.
// Once Close or Shutdown has begun, every method of the pool, its views
// and its connections that returns an error returns ErrPoolClosed (Close
// and Shutdown excepted: they are idempotent), and those that only read
// (Stats, Config, the views' Info, All, Len...) keep answering.
//
// Msg is the application's message type, PeerMeta what it keeps per peer,
// ConnMeta what it exchanges in the handshake (Metadata for octez's). A
// pool with neither metadata is a BasicPool, made with NewBasic.
//
// Pool is a thin typed layer: the tables, ACL, admission, maintenance and
// events work on bytes underneath, and Pool converts messages and
// metadata where they meet the application.
type Pool[Msg, PeerMeta, ConnMeta any] struct {
	*core
	codec *codec[Msg]
	// ready lists the connections with application messages queued, for
	// Read; it has its own lock, taken after a queue's (locks.go).
	ready readyList[*Connection[Msg, ConnMeta]]
	// stages lends the readers their staging slices (Connection.deliver),
	// blocks the connections' queues their storage.
	stages stagePool[Msg]
	blocks blockPool[appItem[Msg]]

	newConn *connHooks[Msg, ConnMeta]
}

// connHooks are the OnNew hooks of a pool's connections.
type connHooks[Msg, ConnMeta any] struct {
	mu sync.Mutex
	// Guarded by mu.
	hooks []func(*Connection[Msg, ConnMeta])
}

// BasicPool is the pool of an application with no peer metadata that
// exchanges octez's connection metadata: its type needs Msg alone.
type BasicPool[Msg any] = Pool[Msg, struct{}, Metadata]

// BasicConnection is a connection of a BasicPool.
type BasicConnection[Msg any] = Connection[Msg, Metadata]

// NewBasic creates a BasicPool: New with no peer metadata and octez's
// connection metadata (OctezConnMeta).
func NewBasic[Msg any](msgs MessageConfig[Msg], cfg Config) (*BasicPool[Msg], error) {
	return New(msgs, PeerMetaConfig[struct{}]{}, OctezConnMeta(), cfg)
}

// New creates a pool. It checks the configuration and the message set
// (tags must be unique and outside the P2P range) and starts only its
// housekeeping: call Serve to accept connections and Connect to open
// them. connMeta must set Local, Encode and Decode (OctezConnMeta is
// octez's); a zero peerMeta keeps the zero PeerMeta for every peer.
func New[Msg, PeerMeta, ConnMeta any](msgs MessageConfig[Msg], peerMeta PeerMetaConfig[PeerMeta], connMeta ConnMetaConfig[ConnMeta], cfg Config) (*Pool[Msg, PeerMeta, ConnMeta], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cd, err := newCodec(&msgs, cfg.Budgets.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	cm, err := connMeta.resolve()
	if err != nil {
		return nil, err
	}
	p := &Pool[Msg, PeerMeta, ConnMeta]{codec: cd, ready: newReadyList[*Connection[Msg, ConnMeta]](), newConn: new(connHooks[Msg, ConnMeta])}
	versions := socket.Versions{ChainName: msgs.ChainName, DistributedDB: msgs.DistributedDBVersions}
	hooks := connMetaHooks{
		local: func(peer PeerID) (any, []byte) {
			m := cm.Local(peer)
			return m, cm.Encode(nil, m)
		},
		decode: func(b []byte) (any, bool, error) {
			m, err := cm.Decode(b)
			if err != nil {
				return nil, false, err
			}
			return m, cm.PrivateNode(m), nil
		},
	}
	p.core, err = newCore(cfg, versions, cd.maxMessage, peerMeta.hooks(), hooks, p)
	if err != nil {
		return nil, err
	}
	p.core.start()
	return p, nil
}

// attach makes the typed half of a new connection (edge).
func (p *Pool[Msg, PeerMeta, ConnMeta]) attach(c *conn, inMsgs, inBytes int) inbox {
	tc := &Connection[Msg, ConnMeta]{
		conn:       c,
		localMeta:  metaAs[ConnMeta](c.info.LocalMeta, "ConnMetaConfig.Local"),
		remoteMeta: metaAs[ConnMeta](c.info.RemoteMeta, "ConnMetaConfig.Decode"),
		codec:      p.codec,
		queue:      newAppQueue(inMsgs, inBytes, p.inBudget, &p.blocks),
		ready:      &p.ready,
		stages:     &p.stages,
	}
	tc.queue.onReadable = func() { p.ready.add(tc) }
	return tc
}

// established runs the Conns().OnNew hooks, newest first (edge).
func (p *Pool[Msg, PeerMeta, ConnMeta]) established(c *conn) {
	p.newConn.mu.Lock()
	hooks := slices.Clone(p.newConn.hooks)
	p.newConn.mu.Unlock()
	tc := typed[Msg, ConnMeta](c)
	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i](tc)
	}
}

// typed returns the Connection whose core half is c. The assertion
// cannot fail: attach, of this pool, is the only writer of c.app, and a
// failure would panic (a bug in the pool), never give a zero value. It
// stays because the core, not generic, can hold the Connection only as
// an interface.
func typed[Msg, ConnMeta any](c *conn) *Connection[Msg, ConnMeta] {
	if c == nil {
		return nil
	}
	return c.app.(*Connection[Msg, ConnMeta])
}

// Serve accepts connections on ln until ln fails or the pool closes, and
// runs each handshake on its own goroutine (octez welcome worker). It
// returns ErrPoolClosed after Close or Shutdown. The first TCP listener
// also sets the announced listening port if Config.Network.ListeningPort is zero;
// connections opened before Serve has started announce no port, so a node
// that dials right away should set Config.Network.ListeningPort.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Serve(ln net.Listener) error { return p.serve(ln) }

// Accept runs the handshake on an incoming connection nc (octez accept),
// bounded by ctx and Config.Timeouts.Authentication. Serve calls it for each
// accepted socket; call it directly for connections accepted elsewhere.
// On error nc is closed.
//
// Before any handshake byte, nc must pass the address checks, in order:
// banned or greylisted address (ErrPointBanned), its address's and its
// subnet's share of the handshakes in flight (ErrTooManyFromAddress,
// ErrTooManyFromSubnet) and of the established incoming connections
// (same errors). When every handshake slot (MaxIncomingConnections) is
// busy, nc takes the slot of the oldest handshake of the most
// represented subnet, which fails with ErrHandshakeEvicted.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Accept(ctx context.Context, nc net.Conn) (*Connection[Msg, ConnMeta], error) {
	c, err := p.accept(ctx, nc)
	return typed[Msg, ConnMeta](c), err
}

// Connect opens a connection to point (octez connect): dial, handshake,
// admission. It is bounded by ctx and by Config.Timeouts.Connection,
// whichever ends first, and returns the established connection or an
// error matching one of ErrPointBanned, ErrTooManyConnections, ErrPrivateMode,
// ErrPendingConnection, ErrAlreadyConnected, ErrConnectionFailed,
// ErrTimeout, ErrMyself, ErrNotEnoughProofOfWork, ErrNoCommonVersion
// (*VersionError), ErrRejected (*RejectedError), ErrPeerBanned,
// ErrUnexpectedPeer, ErrPoolClosed, or, when
// ctx ends first, its cause (context.Cause).
//
// A p2ppool peer that expects to accept sends its ack with its metadata,
// before its own admission has run (see the README, "Other choices"). If
// that admission then refuses, because the peer's state changed during
// the exchange (another connection with us, or its last slot, taken in
// between), the connection Connect returns ends at once, closed by the
// peer, where an octez peer would have nacked it (ErrRejected).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Connect(ctx context.Context, point netip.AddrPort) (*Connection[Msg, ConnMeta], error) {
	c, err := p.connect(ctx, point)
	return typed[Msg, ConnMeta](c), err
}

// ConnectPoint connects to the point a text names (see ParsePoint):
// a name is resolved, and its addresses tried in turn until one
// connects; a "#peer_id" suffix becomes the expected peer id of each
// address tried (SetExpectedPeerID), so another peer there is refused.
// It returns the last error when none connects.
func (p *Pool[Msg, PeerMeta, ConnMeta]) ConnectPoint(ctx context.Context, point string) (*Connection[Msg, ConnMeta], error) {
	c, err := p.connectPoint(ctx, point)
	return typed[Msg, ConnMeta](c), err
}

// Read returns the next application message from any connection, with
// the connection it came from (octez recv_any), waiting for one. It is
// fair: connections with messages queued take turns, one message each,
// so a chatty peer cannot starve the others. It fails with ctx's error,
// or ErrPoolClosed once Close or Shutdown has begun. It may be mixed with
// Connection.Read: each message goes to one caller.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Read(ctx context.Context) (*Connection[Msg, ConnMeta], Msg, error) {
	var zero Msg
	for {
		select {
		case <-p.life.done:
			return nil, zero, ErrPoolClosed
		default:
		}
		for {
			c, ok := p.ready.next()
			if !ok {
				break
			}
			m, ok, more := c.queue.tryPop()
			if more {
				p.ready.add(c) // its turn again, behind the others
			}
			if ok {
				return c, m, nil
			}
		}
		select {
		case <-p.ready.sig:
		case <-p.life.done:
			return nil, zero, ErrPoolClosed
		case <-ctx.Done():
			return nil, zero, ctx.Err()
		}
	}
}

// ReadBatch appends to dst every message queued on the next connection
// with any, returning that connection and the extended slice, waiting for
// a message (Read, one batch at a time): connections take turns, one
// batch each, at most Config.Limits.IncomingAppMessageQueueSize messages. It
// takes a connection's messages with one lock and one wake-up of its
// reader, which is cheaper per message than Read when messages come
// faster than the application reads them one by one. It fails as Read
// does; dst may be nil, and reusing it (dst[:0]) avoids an allocation per
// call.
func (p *Pool[Msg, PeerMeta, ConnMeta]) ReadBatch(ctx context.Context, dst []Msg) (*Connection[Msg, ConnMeta], []Msg, error) {
	for {
		select {
		case <-p.life.done:
			return nil, dst, ErrPoolClosed
		default:
		}
		for {
			c, ok := p.ready.next()
			if !ok {
				break
			}
			var took bool
			if dst, took = c.queue.tryPopAll(dst); took {
				return c, dst, nil
			}
		}
		select {
		case <-p.ready.sig:
		case <-p.life.done:
			return nil, dst, ErrPoolClosed
		case <-ctx.Done():
			return nil, dst, ctx.Err()
		}
	}
}

// WriteAll queues msg on every established connection but those to the
// peers in except (a gossip's sender, say), without ever blocking (octez
// broadcast): msg is encoded once, and a connection whose outgoing queue
// is full is skipped, its drop counted. It returns the number of
// connections msg was queued on, or ErrPoolClosed once Close or Shutdown
// has begun.
func (p *Pool[Msg, PeerMeta, ConnMeta]) WriteAll(msg Msg, except ...PeerID) (int, error) {
	if p.life.isClosed() {
		return 0, ErrPoolClosed
	}
	b, err := p.codec.appendMessage(nil, msg)
	if err != nil {
		return 0, err
	}
	return p.reg.broadcast(b, func(c *conn) bool { return !slices.Contains(except, c.info.Peer) }, nil), nil
}

// BroadcastBootstrap asks every established, non-private peer for points
// (a Bootstrap message each, dropped where the queue is full). It returns
// ErrPoolClosed once Close or Shutdown has begun.
func (p *Pool[Msg, PeerMeta, ConnMeta]) BroadcastBootstrap() error {
	if p.life.isClosed() {
		return ErrPoolClosed
	}
	p.broadcastBootstrap()
	return nil
}

// SendSwapRequest asks a random connected, non-private peer to swap: it
// proposes another random connected peer whose listening point is known
// (octez's maintenance does this when the connection count is in range).
// It returns nil once the request is queued, ErrNoSwapCandidates when
// there are not two such peers, ErrQueueFull when the recipient's queue
// is full.
func (p *Pool[Msg, PeerMeta, ConnMeta]) SendSwapRequest() error {
	if p.life.isClosed() {
		return ErrPoolClosed
	}
	return p.swaps.sendRequest()
}

// Maintain runs the maintenance now and returns once a run that started
// after the call has finished (octez maintain), or when ctx ends. With the
// maintenance disabled it returns ErrMaintenanceDisabled. Called from a
// callback on a connection's goroutine or the maintenance's own (whose
// dials and dropped connections a run waits for), it requests a run and
// returns ErrReentrant without waiting.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Maintain(ctx context.Context) error {
	return p.maint.now(ctx)
}

// Stats returns a snapshot of the pool's counters; its String method
// prints it on one line. It keeps working after Close, for a final
// report.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Stats() Stats { return p.stats() }

// Config returns the pool's configuration, defaults applied, with the
// limits in force (see SetLimits).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Config() Config { return p.config() }

// SetLimits changes the limits at run time, all at once. Lowering
// MaxConnections trims the excess through the maintenance (at once if it
// runs; with the maintenance off, new connections are refused until the
// count falls); bandwidth limits apply to every connection at once, and
// raising one wakes the connections waiting for budget; queue sizes apply
// to connections established afterwards. Invalid limits (min > expected >
// max, negative values) are refused and nothing changes. The Config the
// pool was made with is not changed: Config returns it with these limits
// as its Limits group, defaults applied.
func (p *Pool[Msg, PeerMeta, ConnMeta]) SetLimits(l Limits) error {
	if p.life.isClosed() {
		return ErrPoolClosed
	}
	return p.setLimits(l)
}

// Peers is the view of the known peers (octez P2p_pool.Peers).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Peers() Peers[PeerMeta] { return Peers[PeerMeta]{p.core} }

// Points is the view of the known points (octez P2p_pool.Points).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Points() Points { return Points{p.core} }

// ACL is the view of the greylists and bans (octez P2p_acl).
func (p *Pool[Msg, PeerMeta, ConnMeta]) ACL() ACL { return ACL{p.core} }

// Conns is the view of the established connections (octez
// P2p_pool.Connection).
func (p *Pool[Msg, PeerMeta, ConnMeta]) Conns() Conns[Msg, ConnMeta] {
	return Conns[Msg, ConnMeta]{p.core, p.newConn}
}

// Close closes the pool at once: listeners, handshakes and connections are
// cut, and Close returns once every goroutine the pool started has
// exited. Later calls return ErrPoolClosed; Close itself is idempotent.
//
// Close may be called from any callback the pool runs: a Conns().OnNew
// hook, a PeerMetaConfig or ConnMetaConfig function, an Encoding, Metrics,
// the Logger's handler, the Dialer. When that callback runs on one of the
// pool's goroutines (or inside a Connect, Accept or Serve call), Close
// cannot wait for that goroutine: it closes as above (the pool refuses
// calls, every connection is cut, every dial and handshake cancelled)
// and returns without waiting for the goroutines; they exit once the
// callbacks running on them return, and the last releases what the pool
// holds. A Close or Shutdown called elsewhere, later or at the same time,
// waits for all of it, as usual.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Close() error { return p.close() }

// Shutdown closes the pool gracefully (octez destroy): it stops accepting,
// saves the peers file, tells every peer Disconnect after what is already
// queued for it, and waits for the connections to end, then closes. If
// ctx ends first, the rest is cut as by Close and ctx's error returned.
// Like Close it is idempotent, and the peers file is saved once.
//
// Called from a callback the pool runs, Shutdown does all this but waits
// for no connection whose reader or writer is inside a Shutdown called
// from a callback (the caller's own, for one: it cannot end before the
// callback returns), and then closes as Close called from a callback
// does.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Shutdown(ctx context.Context) error { return p.shutdown(ctx) }

// maxStaged and maxStagedBytes bound what a reader decodes before
// queueing it in one critical section with one wake-up of the
// application (a wake-up costs microseconds when the application's
// thread is parked).
const (
	maxStaged      = 256
	maxStagedBytes = 64 << 10
)

func (c *Connection[Msg, ConnMeta]) deliver(tag uint16, body []byte, more bool) error {
	msg, size, err := c.codec.decode(tag, body)
	if err != nil {
		if ferr := c.flush(); ferr != nil {
			return ferr
		}
		return err
	}
	if !c.reserved && (more || len(c.staged) > 0) {
		// Arrived whole: staged, to be queued with the next ones.
		if c.stage == nil {
			c.stage = c.stages.get()
			c.staged = *c.stage
		}
		c.staged = append(c.staged, appItem[Msg]{m: msg, size: size})
		c.stagedBytes += size
		if more && len(c.staged) < maxStaged && c.stagedBytes < maxStagedBytes {
			return nil
		}
		err := c.flush()
		if !more {
			// The reader is about to wait on the network: hold no slice
			// while the connection is idle.
			c.stages.put(c.stage, c.staged)
			c.stage, c.staged = nil, nil
		}
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.reserved = false
	if err := c.queue.push(c.ctx, msg, size); err != nil {
		return errInboxClosed
	}
	return nil
}

func (c *Connection[Msg, ConnMeta]) flush() error {
	if len(c.staged) == 0 {
		return nil
	}
	err := c.queue.pushBatch(c.ctx, c.staged)
	clear(c.staged)
	c.staged, c.stagedBytes = c.staged[:0], 0
	if err != nil {
		return errInboxClosed
	}
	return nil
}

func (c *Connection[Msg, ConnMeta]) reserve(ctx context.Context, size int, tag uint16) error {
	err := c.queue.reserve(ctx, c.codec.charge(tag, size))
	c.reserved = err == nil
	return err
}

func (c *Connection[Msg, ConnMeta]) release() {
	c.reserved = false
	c.queue.release()
}

func (c *Connection[Msg, ConnMeta]) closeInbox(err error) {
	if c.stage != nil {
		c.stages.put(c.stage, c.staged)
	}
	c.stage, c.staged = nil, nil
	c.queue.close(err)
	if n, _ := c.queue.len(); n == 0 {
		// Nothing left for Pool.Read: an ended connection must not stay
		// listed when the application reads with Connection.Read only.
		c.ready.remove(c)
	}
}

func (c *Connection[Msg, ConnMeta]) queued() (int, int) { return c.queue.len() }

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
