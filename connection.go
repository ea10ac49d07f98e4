package p2ppool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/ownedtimer"
	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// writeBatchBytes caps what the writer hands to one WriteMessages call:
// enough to coalesce many small messages into one syscall and few chunks
// without delaying the first byte of a large batch. Under a bandwidth
// limit a batch is one scheduler quantum instead (see writeLoop).
const writeBatchBytes = 256 << 10

// maxIdleBatch is the largest batch slice an idle writer keeps.
const maxIdleBatch = 64

// ConnInfo describes an established connection (octez
// P2p_connection.Info).
type ConnInfo[ConnMeta any] struct {
	// ID numbers the pool's connections from 1, in establishment order.
	ID uint64
	// Peer is the remote peer id.
	Peer PeerID
	// Point is the remote's listening point: the address and port we
	// dialled, or, for an incoming connection, its address and the port
	// it announced; invalid when it announced none (octez id_point).
	Point netip.AddrPort
	// RemoteAddr is the transport address of the other end.
	RemoteAddr net.Addr
	// Incoming reports whether the peer dialled us.
	Incoming bool
	// Version is the negotiated version; Announced what the peer
	// announced.
	Version   NetworkVersion
	Announced NetworkVersion
	// LocalMeta and RemoteMeta are the metadata exchanged in the
	// handshake.
	LocalMeta  ConnMeta
	RemoteMeta ConnMeta
	// PrivateNode: the peer runs in private mode.
	PrivateNode bool
	// Established is when the handshake finished.
	Established time.Time
}

// ConnStat counts a connection's traffic: whole P2P messages, application
// and protocol alike, and their plaintext bytes (size prefix included).
type ConnStat struct {
	MsgsSent, MsgsRecv   uint64
	BytesSent, BytesRecv uint64
	// Dropped counts messages WriteNow, WriteAll or the pool itself gave
	// up on because the outgoing queue was full.
	Dropped uint64
	// Unknown counts the messages received with a tag no Encoding
	// declares, dropped under UnknownMessagesIgnore.
	Unknown uint64
	// Flow is the connection's wire traffic, encryption and framing
	// included, and its current rates.
	Flow FlowStat
}

// conn is the non-generic half of a Connection: the socket, the outgoing
// queue of bytes, the counters and the goroutines. Application
// messages go, as bytes, to app (an inbox), the typed half. No field of
// Connection has the name of one of conn's: each name has one meaning.
type conn struct {
	// Immutable after establishment.
	pool *core
	sc   *socket.Conn
	info ConnInfo[any]
	log  *slog.Logger
	// app is the typed half (the Connection that embeds this conn):
	// the reader hands it application messages.
	app inbox
	out *outQueue
	// ctx ends, with a *DisconnectError as cause, when the connection
	// ends; done is closed once its teardown is complete.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	// drain, set by Disconnect(wait=true), tells the writer to send what
	// is queued and then close the socket. A flag, not a channel: the
	// writer only looks at it (once it finds the queue closed and empty).
	drain atomic.Bool
	// writers counts the writer goroutines started (startWriter) and not
	// yet exited: at most one runs at a time.
	writers sync.WaitGroup
	// writerFunc is c.writer, made once (newConnection).
	writerFunc func()
	// readable is the transport, when it can say that a read would not
	// wait; resumeFunc is c.resume, made once. Both nil on others (TCP):
	// the reader then waits in a read (read).
	readable   readNotifier
	resumeFunc func()
	// cause is the first recorded reason the connection ends.
	cause atomic.Pointer[DisconnectError]

	// remoteAddr is the transport address of the other end, for the
	// per-address bounds and eviction. Immutable.
	remoteAddr netip.Addr

	// lastSwapRequest is what we last proposed to this peer; evicted is
	// set when the pool gave this connection's slot to a newcomer.
	// Guarded by Pool.mu.
	lastSwapRequest swapRequest
	evicted         bool

	// lastUseful is when the peer last delivered an application message
	// and lastActive when any message last went either way, in Unix
	// nanoseconds: eviction protects the useful, Timeouts.Idle ends the
	// idle.
	lastUseful, lastActive atomic.Int64
	// idle ends the connection after Config.Timeouts.Idle without a
	// message; nil when there is no such bound. Set by run before the
	// check can fire, closed by run's teardown, which waits for a check
	// under way (ownedtimer): none outlives the connection's run, so none
	// outlives Close.
	idle *ownedtimer.Timer

	// ctl holds the connection's token buckets: control messages,
	// application Budgets, abuse (control.go). It has its own lock.
	ctl connBudgets

	// counts is the traffic; the reader and the writer update it.
	counts connCounters

	// writerCallback is set while the writer runs a callback (Metrics,
	// the logger): a write from there that waits for the writer would
	// wait forever (reentry.go). A flag first, so that WriteSync looks
	// the goroutine up only then.
	writerCallback atomic.Bool
}

// connCounters are a connection's counters (ConnStat): atomics, the
// received ones updated by its reader, the sent ones by its writer, the
// drops by whichever write gave up.
type connCounters struct {
	msgsSent, msgsRecv, bytesSent, bytesRecv, dropped, unknown atomic.Uint64
}

// inbox is the typed half of a connection as its reader (conn.readLoop)
// sees it: where application messages go, as bytes in, typed values out.
// Its one implementation is *Connection[Msg, ConnMeta], made by the
// pool's edge.attach; an interface because conn is not generic. Only the
// reader calls it, but for queued (Stats, under the pool's lock).
type inbox interface {
	// deliver decodes an application message and queues it, or stages
	// it to be queued with the next ones when more says the next message
	// has arrived whole too. It fails with errInboxClosed once the
	// connection has ended, or with the decoding error (after queueing
	// what was staged).
	deliver(tag uint16, body []byte, more bool) error
	// flush queues what is staged.
	flush() error
	// reserve makes room for a message of size wire bytes with tag, as
	// much as it will count once decoded (codec.charge); release gives it
	// back. See appQueue.
	reserve(ctx context.Context, size int, tag uint16) error
	release()
	// closeInbox ends the queue: what is queued may still be read.
	closeInbox(err error)
	// queued is the number of messages and bytes queued.
	queued() (int, int)
}

// errInboxClosed: a message arrived after the connection ended.
var errInboxClosed = errors.New("p2ppool: inbox closed")

// Connection is an established connection of a Pool. Its reader goroutine
// decodes incoming messages into a bounded queue that Read drains; its
// writer goroutine, running while something is queued, sends what Write
// and friends queue, coalescing small messages into few syscalls. All
// methods are safe for concurrent use.
type Connection[Msg, ConnMeta any] struct {
	*conn
	// localMeta and remoteMeta are conn.info's metadata, typed: the
	// rest of Info is conn.info's.
	localMeta, remoteMeta ConnMeta
	codec                 *codec[Msg]
	// queue holds the decoded application messages until Read.
	queue *appQueue[Msg]
	// ready is the pool's list of connections with messages queued, for
	// Pool.Read.
	ready *readyList[*Connection[Msg, ConnMeta]]
	// sizeHint is the size of the last message encoded, to take a buffer
	// of the right size from the pool.
	sizeHint atomic.Int64

	// Owned by the reader goroutine: the messages decoded and not yet
	// queued, and whether the message being read holds a reservation.
	staged      []appItem[Msg]
	stagedBytes int
	reserved    bool
	// stage is the slice staged was lent in (nil when none is), by
	// stages, the pool's.
	stage  *[]appItem[Msg]
	stages *stagePool[Msg]
}

// Conns is the view of the pool's established connections (octez
// P2p_pool.Connection). Get it from Pool.Conns; it is a handle, cheap to
// copy, safe for concurrent use.
type Conns[Msg, ConnMeta any] struct {
	p     *core
	hooks *connHooks[Msg, ConnMeta]
}

// All returns the established connections, oldest first.
func (v Conns[Msg, ConnMeta]) All() []*Connection[Msg, ConnMeta] {
	cs := v.p.reg.connections()
	out := make([]*Connection[Msg, ConnMeta], len(cs))
	for i, c := range cs {
		out[i] = typed[Msg, ConnMeta](c)
	}
	return out
}

// Len is the number of established connections (octez active_connections).
func (v Conns[Msg, ConnMeta]) Len() int {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reg.conns)
}

// ByPeer returns the connection with peer, if any (octez find_by_peer_id).
func (v Conns[Msg, ConnMeta]) ByPeer(peer PeerID) (*Connection[Msg, ConnMeta], bool) {
	p := v.p
	p.mu.Lock()
	c := p.reg.conns[peer]
	p.mu.Unlock()
	return typed[Msg, ConnMeta](c), c != nil
}

// ByPoint returns the connection whose listening point (ConnInfo.Point)
// is pt, if any (octez find_by_point).
func (v Conns[Msg, ConnMeta]) ByPoint(pt netip.AddrPort) (*Connection[Msg, ConnMeta], bool) {
	p := v.p
	pt = wire.NormalizePoint(pt)
	p.mu.Lock()
	var found *conn
	for _, c := range p.reg.conns {
		if c.info.Point == pt {
			found = c
			break
		}
	}
	p.mu.Unlock()
	return typed[Msg, ConnMeta](found), found != nil
}

// OnNew registers a hook run for every new connection, in the
// goroutine that established it, before Connect or Accept return; hooks
// run newest first, as in octez. A hook must not block for long: it
// delays the handshake that triggered it.
func (v Conns[Msg, ConnMeta]) OnNew(hook func(*Connection[Msg, ConnMeta])) error {
	if err := v.p.lockOpen(); err != nil {
		return err
	}
	v.p.mu.Unlock()
	v.hooks.mu.Lock()
	defer v.hooks.mu.Unlock()
	v.hooks.hooks = append(v.hooks.hooks, hook)
	return nil
}

// Info describes the connection.
func (c *Connection[Msg, ConnMeta]) Info() ConnInfo[ConnMeta] {
	i := c.info
	return ConnInfo[ConnMeta]{
		ID: i.ID, Peer: i.Peer, Point: i.Point, RemoteAddr: i.RemoteAddr, Incoming: i.Incoming,
		Version: i.Version, Announced: i.Announced, LocalMeta: c.localMeta, RemoteMeta: c.remoteMeta,
		PrivateNode: i.PrivateNode, Established: i.Established,
	}
}

// Peer is the remote peer id.
func (c *Connection[Msg, ConnMeta]) Peer() PeerID { return c.info.Peer }

// Stat returns the connection's counters and its wire traffic (octez
// P2p_stat of a connection).
func (c *Connection[Msg, ConnMeta]) Stat() ConnStat { return c.stat() }

func (c *conn) stat() ConnStat {
	s := ConnStat{
		MsgsSent: c.counts.msgsSent.Load(), MsgsRecv: c.counts.msgsRecv.Load(),
		BytesSent: c.counts.bytesSent.Load(), BytesRecv: c.counts.bytesRecv.Load(),
		Dropped: c.counts.dropped.Load(), Unknown: c.counts.unknown.Load(),
	}
	if sc, ok := c.sc.NetConn().(*sched.Conn); ok {
		s.Flow = FlowStat(sc.Stat())
	}
	return s
}

// Context is done when the connection has ended; its cause
// (context.Cause) is the *DisconnectError saying why.
func (c *Connection[Msg, ConnMeta]) Context() context.Context { return c.ctx }

// Done is closed once the connection has ended and the pool's tables no
// longer list it.
func (c *Connection[Msg, ConnMeta]) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection runs, then the *DisconnectError
// saying why it ended.
func (c *Connection[Msg, ConnMeta]) Err() error { return c.err() }

func (c *conn) err() error {
	if c.ctx.Err() == nil {
		return nil
	}
	return context.Cause(c.ctx)
}

// Read returns the next application message, waiting for one (octez
// read). Messages queued before the connection ended are still returned;
// after that Read fails with the *DisconnectError. The connection's
// reader decodes every message before it queues it: one that does not
// decode ends the connection (a protocol error; the peer and its address
// are greylisted) before any message that followed it is queued, so
// neither Read nor ReadBatch ever returns a message sent after a
// malformed one.
func (c *Connection[Msg, ConnMeta]) Read(ctx context.Context) (Msg, error) {
	return c.queue.pop(ctx)
}

// ReadBatch appends to dst every application message queued on the
// connection, at least one, waiting for it, and returns the extended
// slice: as Read does, but taking the lot with one lock and one wake-up
// of the connection's reader, which is cheaper per message when messages
// come faster than the application reads them one by one. It returns at
// most Config.Limits.IncomingAppMessageQueueSize messages. Messages queued
// before the connection ended are still returned; after that ReadBatch
// fails with the *DisconnectError. The guarantee on malformed messages
// is Read's. dst may be nil; reusing it across calls (dst[:0]) avoids an
// allocation per call.
func (c *Connection[Msg, ConnMeta]) ReadBatch(ctx context.Context, dst []Msg) ([]Msg, error) {
	return c.queue.popAll(ctx, dst)
}

// WaitReadable returns when Read would not block: a message is queued, or
// the connection has ended and nothing is left, in which case it returns
// the *DisconnectError (octez is_readable).
func (c *Connection[Msg, ConnMeta]) WaitReadable(ctx context.Context) error {
	return c.queue.wait(ctx)
}

// Write queues msg for sending, waiting while the outgoing queue is full
// or the pool's outgoing budget is spent (octez write, which has no such
// budget). It returns once msg is queued, not sent. When the queue is full
// and Write is called from a callback on the connection's own writer
// goroutine (Metrics.BytesOut, the Logger's handler), where only that
// writer could make room, it returns ErrReentrant.
func (c *Connection[Msg, ConnMeta]) Write(ctx context.Context, msg Msg) error {
	return c.write(ctx, msg, true)
}

// write encodes msg and queues it, waiting for room with block. A small
// message is encoded into a scratch buffer (scratchPool) and copied into
// the queue's arena; a large one is encoded into a pooled buffer of the
// last message's size and queued in it.
func (c *Connection[Msg, ConnMeta]) write(ctx context.Context, msg Msg, block bool) error {
	if err := c.err(); err != nil {
		return err
	}
	hint := int(c.sizeHint.Load())
	var s *[]byte
	var dst []byte
	if hint <= smallMessage {
		s = scratchPool.Get().(*[]byte)
		dst = (*s)[:0]
	} else {
		dst = pool.Get(hint)[:0]
	}
	b, err := c.codec.appendMessage(dst, msg)
	if err != nil {
		releaseEncoded(s, dst)
		return err
	}
	if len(b) != hint {
		c.sizeHint.Store(int64(len(b))) // a write only when it changes
	}
	// A write waits for room only when the queue is full: only then
	// does it check it is not on the writer that makes room.
	if len(b) <= smallMessage {
		err = c.out.pushCopy(ctx, b, false)
		if block && errors.Is(err, ErrQueueFull) {
			if err = c.mayWait(); err == nil {
				err = c.out.pushCopy(ctx, b, true)
			}
		}
		releaseEncoded(s, b)
	} else {
		// The buffer goes with the message. A scratch buffer it outgrew
		// goes back as it was; one it fits in goes with it.
		if s != nil && cap(b) != cap(*s) {
			scratchPool.Put(s)
		}
		it := outItem{b: b, pooled: true}
		err = c.out.push(ctx, it, false)
		if block && errors.Is(err, ErrQueueFull) {
			if err = c.mayWait(); err == nil {
				err = c.out.push(ctx, it, true)
			}
		}
		if err != nil {
			it.release(nil)
		}
	}
	if errors.Is(err, ErrQueueFull) {
		c.countDrop(err)
	}
	return err
}

// scratchPool holds the buffers small messages are encoded into before
// the queue copies them (write): a sync.Pool, whose buffers stay with a
// processor and go with the collector, so that an idle connection holds
// none and taking one costs no atomic instruction. A scratch buffer of
// the connection's own, exchanged atomically, cost two locked exchanges
// per message, each waiting for the stores of the copy before it.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// releaseEncoded is done with b, a small message encoded into the
// scratch buffer s, or (s nil) into a pooled buffer of its own: s goes
// back to scratchPool holding b's array if encoding grew it (up to twice
// smallMessage), and b's own buffer to the buffer pool.
func releaseEncoded(s *[]byte, b []byte) {
	if s == nil {
		pool.Put(b[:cap(b)])
		return
	}
	if cap(b) > cap(*s) && cap(b) <= 2*smallMessage {
		*s = b[:0]
	}
	scratchPool.Put(s)
}

// WriteSync queues msg and waits until it has been written to the socket
// (octez write_sync). If the connection ends first, the message may not
// have been sent and WriteSync returns the *DisconnectError. Called from
// a callback on the connection's own writer goroutine (Metrics.BytesOut,
// the Logger's handler), which would have to write it, it returns
// ErrReentrant.
func (c *Connection[Msg, ConnMeta]) WriteSync(ctx context.Context, msg Msg) error {
	if err := c.mayWait(); err != nil {
		return err
	}
	it, err := c.encode(msg)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	it.done = done
	if err := c.out.push(ctx, it, true); err != nil {
		it.done = nil
		it.release(nil)
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteNow queues msg if the outgoing queue has room and never blocks
// (octez write_now). It returns ErrQueueFull, and counts a drop, when the
// queue is full, and ErrOutgoingBudgetFull (an ErrQueueFull too) when the
// pool's outgoing budget is (Config.Budgets.TotalOutgoingQueueSize): the message
// is not sent.
func (c *Connection[Msg, ConnMeta]) WriteNow(msg Msg) error {
	return c.write(context.Background(), msg, false)
}

// mayWait fails with ErrReentrant on the connection's own writer, in a
// callback: what a write would wait for is that writer's next step.
func (c *conn) mayWait() error {
	if !c.writerCallback.Load() {
		return nil
	}
	if g, ok := c.pool.life.gs.self(); ok && g.writer && g.conn == c {
		return fmt.Errorf("p2ppool: write waiting for the connection's writer from its own callback: %w", ErrReentrant)
	}
	return nil
}

func (c *conn) pushNow(it outItem) error {
	if err := c.out.push(context.Background(), it, false); err != nil {
		if errors.Is(err, ErrQueueFull) {
			c.countDrop(err)
		}
		it.release(nil)
		return err
	}
	return nil
}

// countDrop counts a message dropped on a full outgoing queue, or for
// want of the pool's outgoing budget (err says which).
func (c *conn) countDrop(err error) {
	c.counts.dropped.Add(1)
	c.pool.count.dropped.Add(1)
	if errors.Is(err, ErrOutgoingBudgetFull) {
		c.pool.outBudget.drops.Add(1)
		c.pool.cfg.Metrics.MsgDropped(DropOutgoingBudget)
		return
	}
	c.pool.cfg.Metrics.MsgDropped(DropQueueFull)
}

// encode encodes msg into a pooled buffer.
func (c *Connection[Msg, ConnMeta]) encode(msg Msg) (outItem, error) {
	if err := c.err(); err != nil {
		return outItem{}, err
	}
	b, err := c.codec.appendMessage(pool.Get(max(int(c.sizeHint.Load()), 512))[:0], msg)
	if err != nil {
		pool.Put(b[:cap(b)])
		return outItem{}, err
	}
	c.sizeHint.Store(int64(len(b)))
	return outItem{b: b, pooled: true}, nil
}

// Disconnect ends the connection (octez disconnect). With wait, queued
// messages are sent first. It returns once the connection is torn down
// and gone from the pool's tables, or when ctx ends. On a connection that
// had ended already it returns the *DisconnectError saying why. Called
// from a callback the pool runs on a connection's goroutine (an
// Encoding's Decode, Metrics, the Logger's handler), it ends the
// connection and returns without waiting for the teardown, which that
// goroutine may be the one to do.
func (c *Connection[Msg, ConnMeta]) Disconnect(ctx context.Context, wait bool) error {
	return c.disconnect(ctx, wait)
}

func (c *conn) disconnect(ctx context.Context, wait bool) error {
	err := c.err()
	if err == nil {
		c.end(&DisconnectError{Reason: ReasonLocal}, wait)
	}
	// Else it had ended already: wait for its teardown all the same.
	if g, ok := c.pool.life.gs.self(); ok && g.conn != nil {
		// Called from a callback on a connection's reader or writer:
		// waiting could wait for this very goroutine, or for one that
		// waits for it (two callbacks disconnecting each other's
		// connection). The connection ends on its own.
		return err
	}
	select {
	case <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// end records why the connection ends (the first reason wins; nil keeps
// the recorded one) and stops it: at once, or, with drain, after the
// writer has sent what is queued.
func (c *conn) end(cause *DisconnectError, drain bool) {
	if cause != nil {
		c.cause.CompareAndSwap(nil, cause)
	}
	cause = c.cause.Load()
	if cause == nil {
		cause = &DisconnectError{Reason: ReasonLocal}
	}
	if drain && c.ctx.Err() == nil {
		// drain is set before the queue is closed: the writer looks at drain
		// once it finds the queue closed and empty, and must not miss it,
		// or it would exit leaving the connection open.
		c.drain.Store(true)
		if c.out.close(cause, true) {
			return // a writer sends what is queued, then ends it
		}
		// Nothing queued and no writer: nothing to wait for.
	}
	c.out.close(cause, false)
	c.cancel(cause)
	c.sc.Close()
}

// connReserver is a conn as the socket's Reserver (SetReserve): a message
// that has not arrived whole reserves its room in the application queue
// before the rest is read. A type of its own, so that Reserve is not a
// method of Connection, which embeds *conn; converting a *conn to it
// costs nothing.
type connReserver conn

// Reserve reserves room for a message of size bytes with tag in the
// connection's application queue, waiting while the queue is full.
func (r *connReserver) Reserve(size int, tag uint16) error {
	c := (*conn)(r)
	return c.app.reserve(c.ctx, size, tag)
}

// startWriter starts the connection's writer goroutine. The outgoing
// queue calls it, with its lock held, when a message is queued and no
// writer runs; the writer exits once it finds the queue empty. The
// reader waits for it (writers) before the teardown: every start comes
// before the queue is closed, and the reader closes the queue before it
// waits.
func (c *conn) startWriter() {
	c.writers.Add(1)
	go c.writerFunc() // a func value made once: a go statement of a method value allocates
}

// writer is the body of the writer goroutine.
func (c *conn) writer() {
	growStack()
	defer c.writers.Done()
	// Registered as the connection's writer, for the calls its
	// callbacks make (reentry.go).
	defer c.pool.life.track(poolGoroutine{conn: c, writer: true}).untrack()
	c.writeLoop()
}

// run is the connection's reader goroutine: it owns the connection,
// starts the writer, reads until the connection ends, then tears it down.
// The pool counts the connection in its wait group (startConnection)
// until the teardown is over, whether or not a reader runs (read).
func (c *conn) run() {
	reg := c.pool.life.track(poolGoroutine{conn: c})
	growStack()
	// Opened here rather than in startConnection, so that ConnOpened
	// always comes before the connection's ConnClosed.
	c.pool.cfg.Metrics.ConnOpened(c.info.Incoming)
	c.startIdleTimer()
	// Writers may start from now on (not counted in the pool's wait
	// group: the reader waits for them).
	c.out.unhold()
	c.read(reg, true)
}

// resume runs the reader again on a goroutine of its own once the
// transport says that a read may not wait (read parked it).
func (c *conn) resume() {
	reg := c.pool.life.track(poolGoroutine{conn: c})
	growStack()
	c.read(reg, false)
}

// read runs the reader, registered as reg for the calls its callbacks
// make (reentry.go), until the connection ends, then tears it down. On a
// transport that can say when a read would not wait (readNotifier), an
// idle reader parks instead: its goroutine exits, holding nothing, and
// the transport starts resume once something arrives. mayPark is false
// when the transport has just said so: the reader reads before it may
// park again.
func (c *conn) read(reg registration, mayPark bool) {
	for {
		end, idle := c.readLoop(mayPark)
		if !idle {
			c.end(end, false)
			break
		}
		reg.untrack()
		if c.readable.NotifyReadable(c.resumeFunc) {
			return // nothing of c is touched from here: resume may run already
		}
		reg = c.pool.life.track(poolGoroutine{conn: c})
		mayPark = false
	}
	c.writers.Wait()
	c.stopIdleTimer()
	c.sc.Free()
	cause := context.Cause(c.ctx)
	c.app.closeInbox(cause)
	c.out.discard(cause)
	c.pool.removeConnection(c)
	reason := ReasonLocal
	var de *DisconnectError
	if errors.As(cause, &de) {
		reason = de.Reason
	}
	if reason < numReasons {
		c.pool.count.ended[reason].Add(1)
	}
	c.pool.cfg.Metrics.ConnClosed(reason, time.Since(c.info.Established))
	close(c.done)
	reg.untrack()
	c.pool.life.wg.Done()
}

// readNotifier is a transport that can say when a read would no longer
// wait, so that an idle connection's reader need not wait in one:
// p2ppooltest's Conn (its NotifyReadable says more).
type readNotifier interface {
	NotifyReadable(f func()) bool
}

// readLoop reads and dispatches messages until an error, which it returns
// as the reason the connection ends, or, with mayPark and a readNotifier
// transport, until nothing received is left to read (idle): the socket
// then holds no buffer, and the caller parks the reader. With mayPark
// false the first read is made whatever: the transport has just said
// that it would not wait.
func (c *conn) readLoop(mayPark bool) (end *DisconnectError, idle bool) {
	// now is never 0, which lastUseful keeps for "never": a first message
	// that came buffered with the handshake's last bytes counts too.
	now := time.Now().UnixNano()
	var msgs, bytes int // read and not yet counted
	defer func() { c.countIn(msgs, bytes) }()
	for {
		// A message that was already decrypted when the previous one was
		// returned arrived with it: the clock is read once per batch that
		// came off the network, not per message (it was 8% of the CPU of
		// small messages).
		fresh := !c.sc.Buffered()
		if fresh && mayPark && c.readable != nil && c.sc.Park() {
			return nil, true
		}
		mayPark = true
		raw, err := c.sc.ReadMessage()
		if err != nil {
			if c.app.flush() != nil {
				return nil, false // the connection was ended elsewhere
			}
			return c.readError(err), false
		}
		if fresh {
			now = time.Now().UnixNano()
			c.lastActive.Store(now)
		}
		// The counters move once per batch off the network, before the
		// batch's last message is handed over: atomics and a metrics call
		// per message were 5% of the CPU of small messages.
		msgs, bytes = msgs+1, bytes+len(raw)
		more := c.sc.NextWhole()
		if !more {
			c.countIn(msgs, bytes)
			msgs, bytes = 0, 0
		}
		tag := binary.BigEndian.Uint16(raw[4:])
		if !wire.IsReservedTag(tag) {
			if err := c.app.deliver(tag, raw[6:], more); err != nil {
				switch {
				case errors.Is(err, errInboxClosed):
					return nil, false // the connection was ended elsewhere
				case errors.Is(err, ErrUnknownTag) && c.pool.cfg.Wire.UnknownMessages == UnknownMessagesIgnore:
					c.app.release()
					c.counts.unknown.Add(1)
					c.pool.count.unknown.Add(1)
					continue
				}
				return c.protocolError(tag, err), false
			}
			if c.lastUseful.Load() != now {
				c.lastUseful.Store(now)
			}
			continue
		}
		if end, stop := c.handleP2P(tag, raw); stop {
			return end, false
		}
	}
}

// handleP2P handles one P2P message (a reserved tag), after the
// application messages before it are queued; it reports stop with the
// reason to end the connection (nil: it was ended elsewhere). Apart from
// readLoop so that the frame a blocked reader keeps on its stack is
// small: with the decoded message's locals in it, readLoop's frame was
// 552 bytes and a blocked reader's stack over a quarter of 4 KB, which
// the runtime does not halve.
func (c *conn) handleP2P(tag uint16, raw []byte) (end *DisconnectError, stop bool) {
	// Its bytes are free again.
	if err := c.app.flush(); err != nil {
		return nil, true // the connection was ended elsewhere
	}
	c.app.release()
	// A control message over its budget is ignored before it is
	// decoded: a flood costs a bucket, not a decoding.
	if k, ok := controlKindOf(tag); ok {
		if ok, flood := c.allowControl(k); !ok {
			return flood, flood != nil
		}
	}
	m, err := wire.DecodeMessage(raw)
	if err != nil {
		return c.protocolError(tag, fmt.Errorf("%w: %w", ErrDecode, err)), true
	}
	switch m.Tag {
	case wire.TagDisconnect:
		return &DisconnectError{Reason: ReasonRemoteDisconnect, Remote: true}, true
	case wire.TagBootstrap:
		c.pool.onBootstrap(c)
	case wire.TagAdvertise:
		c.pool.onAdvertise(c.info.Peer, m.Points)
	case wire.TagSwapRequest:
		if !c.pool.cfg.Network.ClosedNetwork {
			c.pool.swaps.onRequest(c, m.Point)
		}
	case wire.TagSwapAck:
		if !c.pool.cfg.Network.ClosedNetwork {
			c.pool.swaps.onAck(c, m.Point)
		}
	}
	return nil, false
}

// countIn counts msgs messages of bytes wire bytes read.
func (c *conn) countIn(msgs, bytes int) {
	if msgs > 0 {
		c.counts.msgsRecv.Add(uint64(msgs))
		c.counts.bytesRecv.Add(uint64(bytes))
		c.pool.cfg.Metrics.BytesIn(bytes)
	}
}

// protocolError ends the connection after a message that does not decode:
// octez greylists the peer and its address (greylist_peer).
func (c *conn) protocolError(tag uint16, err error) *DisconnectError {
	c.log.Debug("peer sent a bad message", "tag", tag, "err", err)
	return c.violation(err)
}

// violation ends the connection after something no honest peer sends,
// greylisting the peer and its address.
func (c *conn) violation(err error) *DisconnectError {
	cause := &DisconnectError{Reason: ReasonProtocolError, Remote: true, Err: err}
	if errors.Is(err, ErrMessageTooLarge) || errors.Is(err, socket.ErrInvalidMessageSize) && errors.Is(err, dataenc.ErrTooLarge) {
		// Over its Encoding's bound, or a size prefix over the largest
		// of them (the socket refuses it before anything is allocated).
		c.pool.count.oversized.Add(1)
	}
	c.cause.CompareAndSwap(nil, cause)
	ap, _ := addrPortOf(c.info.RemoteAddr)
	c.pool.acl.punish(ap.Addr(), c.info.Peer)
	return cause
}

func (c *conn) readError(err error) *DisconnectError {
	switch {
	case c.ctx.Err() != nil:
		return nil // ended locally; the cause is already recorded
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return &DisconnectError{Reason: ReasonRemoteClosed, Remote: true, Err: err}
	case errors.Is(err, socket.ErrInvalidMessageSize), errors.Is(err, socket.ErrInvalidChunkSize), errors.Is(err, socket.ErrDecipher):
		// No honest implementation sends these once the channel is up:
		// greylist, as a message that does not decode is (octez only
		// ends the connection).
		return c.violation(err)
	}
	return &DisconnectError{Reason: ReasonReadError, Remote: true, Err: err}
}

// writeError says why a failed write ends the connection: the peer
// accepted no byte for Config.Timeouts.Write, or the write failed.
func writeError(err error) *DisconnectError {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &DisconnectError{Reason: ReasonWriteTimeout, Remote: true, Err: err}
	}
	return &DisconnectError{Reason: ReasonWriteError, Err: err}
}

// startIdleTimer arms the Timeouts.Idle check, if there is one.
func (c *conn) startIdleTimer() {
	d := c.pool.cfg.Timeouts.Idle
	if d <= 0 {
		return
	}
	c.lastActive.Store(time.Now().UnixNano())
	c.idle = ownedtimer.New(func() { c.checkIdle(d) })
	c.idle.Reset(d)
}

// checkIdle ends the connection if no message went either way for d,
// else re-arms for the rest of d. It never blocks: ending only closes.
func (c *conn) checkIdle(d time.Duration) {
	quiet := time.Since(time.Unix(0, c.lastActive.Load()))
	if quiet < d {
		c.idle.Reset(d - quiet)
		return
	}
	c.end(&DisconnectError{Reason: ReasonIdle}, false)
}

// stopIdleTimer stops the idle check for good, and waits for a check
// under way or one it was too late to stop.
func (c *conn) stopIdleTimer() {
	if c.idle != nil {
		c.idle.Close()
	}
}

// writeLoop is the writer goroutine's loop: it takes batches from the
// outgoing queue and writes each with one WriteMessages call, which seals
// the batch as one stream (several messages to a chunk), until the queue
// is empty; then it lets go of its buffers and returns (the next message
// queued starts a new writer). If the queue was closed for a drain, it
// ends the connection once what was queued is sent.
func (c *conn) writeLoop() {
	batch, bufs := c.out.spares()
	for {
		// Under a bandwidth limit the Write of a batch waits for its
		// budget quantum by quantum: a batch of one quantum completes
		// WriteSync calls and counts bytes as they go out rather than
		// after a long batch, and a write timeout bounds one quantum.
		limit := writeBatchBytes
		if sc, ok := c.sc.NetConn().(*sched.Conn); ok {
			if q := sc.WriteQuantum(); q > 0 {
				limit = q
			}
		}
		var res takeResult
		batch, res = c.out.take(batch[:0], limit)
		switch res {
		case takeEmpty:
			c.releaseWriteBuffers()
			if c.out.exit(batch, bufs) {
				return
			}
			continue // queued meanwhile
		case takeClosed:
			c.releaseWriteBuffers()
			if c.drain.Load() {
				// Everything queued before the drain was sent: close the
				// socket, which ends the reader.
				c.end(nil, false)
			}
			return
		}
		bufs = bufs[:0]
		size, msgs := 0, 0
		for _, it := range batch {
			bufs = append(bufs, it.b)
			size += len(it.b)
			msgs += max(it.msgs, 1)
		}
		err := c.sc.WriteMessages(bufs...)
		clear(bufs)
		if err == nil {
			c.lastActive.Store(time.Now().UnixNano())
			c.counts.msgsSent.Add(uint64(msgs))
			c.counts.bytesSent.Add(uint64(size))
			c.writerCallback.Store(true)
			c.pool.cfg.Metrics.BytesOut(size)
			c.writerCallback.Store(false)
		} else {
			if c.ctx.Err() == nil {
				c.writerCallback.Store(true)
				c.log.Debug("write failed", "err", err)
				c.writerCallback.Store(false)
			}
			// End first, so that the batch's WriteSync callers get the
			// *DisconnectError saying why the connection ended (often a
			// local Disconnect that closed the socket under the write),
			// as the callers whose messages were still queued do.
			c.end(writeError(err), false)
			err = context.Cause(c.ctx)
		}
		c.out.releaseItems(batch, err)
		if err != nil {
			return
		}
	}
}

// releaseWriteBuffers lets go of what an idle connection need not hold:
// the socket's write buffers. Only the writer calls it, before it exits.
func (c *conn) releaseWriteBuffers() {
	c.sc.ReleaseWriteBuffers()
}
