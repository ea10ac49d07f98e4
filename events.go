package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// EventKind is the kind of a pool event: octez's P2p_event cases, plus
// EventsDropped, the marker a slow watcher finds where it missed events.
type EventKind uint8

// Pool event kinds, in octez's order (P2p_connection.P2p_event).
const (
	EventTooFewConnections EventKind = iota + 1
	EventTooManyConnections
	EventMaintenanceStarted
	EventMaintenanceEnded
	EventNewPoint              // Point
	EventNewPeer               // Peer
	EventGCPoints              //
	EventGCPeers               //
	EventIncomingConnection    // Point: the socket's address
	EventOutgoingConnection    // Point
	EventAuthenticationFailed  // Point, Err
	EventAcceptingRequest      // Point, IDPoint, Peer
	EventRejectingRequest      // Point, IDPoint, Peer, Err: we nacked
	EventRequestRejected       // Point, IDPoint, Peer, Err: the ack exchange failed
	EventConnectionEstablished // IDPoint, Peer
	EventBootstrapReceived     // Peer
	EventBootstrapSent         // Peer: a Bootstrap was queued for it (not when dropped)
	EventAdvertiseReceived     // Peer
	EventAdvertiseSent         // Peer
	EventSwapRequestReceived   // Peer
	EventSwapAckReceived       // Peer
	EventSwapRequestSent       // Peer
	EventSwapAckSent           // Peer
	EventSwapRequestIgnored    // Peer
	EventSwapSuccess           // Peer
	EventSwapFailure           // Peer
	EventDisconnection         // Peer, IDPoint, Err: the *DisconnectError
	EventExternalDisconnection // Peer (never raised by octez either)
	// EventsDropped marks where a watcher that did not keep up lost
	// events; Dropped says how many.
	EventsDropped
)

var eventNames = [...]string{
	EventTooFewConnections: "too_few_connections", EventTooManyConnections: "too_many_connections",
	EventMaintenanceStarted: "maintenance_started", EventMaintenanceEnded: "maintenance_ended",
	EventNewPoint: "new_point", EventNewPeer: "new_peer", EventGCPoints: "gc_points", EventGCPeers: "gc_peer_ids",
	EventIncomingConnection: "incoming_connection", EventOutgoingConnection: "outgoing_connection",
	EventAuthenticationFailed: "authentication_failed", EventAcceptingRequest: "accepting_request",
	EventRejectingRequest: "rejecting_request", EventRequestRejected: "request_rejected",
	EventConnectionEstablished: "connection_established", EventBootstrapReceived: "bootstrap_received",
	EventBootstrapSent: "bootstrap_sent", EventAdvertiseReceived: "advertise_received",
	EventAdvertiseSent: "advertise_sent", EventSwapRequestReceived: "swap_request_received",
	EventSwapAckReceived: "swap_ack_received", EventSwapRequestSent: "swap_request_sent",
	EventSwapAckSent: "swap_ack_sent", EventSwapRequestIgnored: "swap_request_ignored",
	EventSwapSuccess: "swap_success", EventSwapFailure: "swap_failure",
	EventDisconnection: "disconnection", EventExternalDisconnection: "external_disconnection",
	EventsDropped: "events_dropped",
}

// String returns octez's JSON name of the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one pool event. Which fields are set depends on Kind (see the
// kind constants).
type Event struct {
	Kind EventKind
	Time time.Time
	// Point is the point concerned: the socket's address for incoming
	// connections, the dialled point for outgoing ones.
	Point netip.AddrPort
	// IDPoint is the peer's listening point (octez id_point), when known.
	IDPoint netip.AddrPort
	Peer    PeerID
	// Err says why, for failures, rejections and disconnections.
	Err error
	// Dropped is the number of events lost, for EventsDropped.
	Dropped uint64
}

func (e Event) String() string {
	s := e.Kind.String()
	if e.Point.IsValid() {
		s += " " + e.Point.String()
	}
	if !e.Peer.IsZero() {
		s += " " + e.Peer.String()
	}
	if e.Kind == EventsDropped {
		s += fmt.Sprintf(" %d", e.Dropped)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// ErrWatcherClosed is returned by Watcher.Next once the watcher is closed
// (its context ended, Close was called, or the pool closed) and its buffer
// is drained.
var ErrWatcherClosed = errors.New("p2ppool: watcher closed")

// DefaultWatchBuffer is a watcher's buffer when Watch is given 0.
const DefaultWatchBuffer = 1024

// Watcher receives the pool's events in the order they happened. Its
// buffer is bounded: when it is full, new events are dropped for this
// watcher only, counted, and an EventsDropped marker takes their place in
// the stream once there is room. A watcher never slows the pool or other
// watchers. Safe for concurrent use.
type Watcher struct {
	hub *eventHub
	mu  orderedMutex[atWatcher]
	// Guarded by mu.
	buf     ring[Event]
	pending uint64 // dropped since the last marker was queued
	missed  uint64 // dropped in total
	closed  bool
	// stop detaches the watcher from its context; nil until watch has
	// registered it.
	stop func() bool
	// sig holds a wake-up token for Next; done is closed by close.
	sig  chan struct{}
	done chan struct{}
}

// Next returns the next event, waiting for one. After the watcher is
// closed it returns the events still buffered, then ErrWatcherClosed.
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		if e, ok := w.buf.pop(); ok {
			w.mu.Unlock()
			return e, nil
		}
		if w.pending > 0 {
			// Drops happened after the last buffered event: report them
			// now rather than wait for the next event.
			e := Event{Kind: EventsDropped, Time: time.Now(), Dropped: w.pending}
			w.pending = 0
			w.mu.Unlock()
			return e, nil
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return Event{}, ErrWatcherClosed
		}
		select {
		case <-w.sig:
		case <-w.done:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Missed returns how many events this watcher has lost in total.
func (w *Watcher) Missed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.missed
}

// Close unsubscribes the watcher; buffered events can still be read.
func (w *Watcher) Close() {
	w.hub.remove(w)
	w.mu.Lock()
	stop := w.stop
	if !w.closed {
		w.closed = true
		close(w.done)
	}
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// deliver queues e, or counts it dropped. It never blocks.
func (w *Watcher) deliver(e Event) {
	w.mu.Lock()
	switch {
	case w.closed:
	case w.pending > 0 && w.buf.len()+2 <= w.buf.capacity():
		w.pushLocked(Event{Kind: EventsDropped, Time: e.Time, Dropped: w.pending})
		w.pending = 0
		w.pushLocked(e)
	case w.pending == 0 && w.buf.len() < w.buf.capacity():
		w.pushLocked(e)
	default:
		w.pending++
		w.missed++
	}
	w.mu.Unlock()
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

func (w *Watcher) pushLocked(e Event) {
	w.buf.push(e)
}

// eventHub fans events out to watchers. Safe for concurrent use; publish
// takes only the hub's and each watcher's own lock, never blocks, and may
// be called with the pool's lock held (lock order: locks.go), which is how
// events are published only after the tables show the change, and in the
// order of the changes.
type eventHub struct {
	mu       orderedMutex[atEvents]
	watchers map[*Watcher]struct{}
	closed   bool
	// conds holds, per Condition, the channel its waiters wait on: made
	// by the first waiter, closed and dropped by broadcast. Guarded by mu.
	conds [numConditions]chan struct{}
}

func (h *eventHub) publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.deliver(e)
	}
	switch e.Kind {
	case EventNewPeer:
		h.broadcastLocked(CondNewPeer)
	case EventNewPoint:
		h.broadcastLocked(CondNewPoint)
	case EventConnectionEstablished:
		h.broadcastLocked(CondNewConnection)
	}
}

// condition returns the channel closed at the next broadcast of c, or
// when the hub closes.
func (h *eventHub) condition(c Condition) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return closedChan
	}
	if h.conds[c] == nil {
		h.conds[c] = make(chan struct{})
	}
	return h.conds[c]
}

// broadcast wakes every waiter of c (octez P2p_trigger.broadcast_*). It
// may be called with the pool's lock held, as publish is.
func (h *eventHub) broadcast(c Condition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcastLocked(c)
}

// closedChan is a closed channel.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (h *eventHub) broadcastLocked(c Condition) {
	if ch := h.conds[c]; ch != nil {
		close(ch)
		h.conds[c] = nil
	}
}

func (h *eventHub) watch(ctx context.Context, buffer int) *Watcher {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	w := &Watcher{hub: h, buf: newRing[Event](buffer), sig: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		w.closed = true
		close(w.done)
		return w
	}
	if h.watchers == nil {
		h.watchers = make(map[*Watcher]struct{})
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	// Tie the watcher to ctx only once it is registered: if ctx is already
	// done, Close runs at once on another goroutine and must find it there.
	stop := context.AfterFunc(ctx, w.Close)
	w.mu.Lock()
	w.stop = stop
	closed := w.closed
	w.mu.Unlock()
	if closed {
		// Closed meanwhile (by ctx or the hub): let go of ctx.
		stop()
	}
	return w
}

func (h *eventHub) remove(w *Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// close closes every watcher; later watchers start closed.
func (h *eventHub) close() {
	h.mu.Lock()
	ws := h.watchers
	h.watchers, h.closed = nil, true
	for c := range h.conds {
		h.broadcastLocked(Condition(c))
	}
	h.mu.Unlock()
	for w := range ws {
		w.Close()
	}
}

// Watch subscribes to the pool's events (octez's pool watcher) until ctx
// ends, the watcher is closed, or the pool closes. The watcher buffers up
// to buffer events (DefaultWatchBuffer if 0); a watcher that falls behind
// loses events, and finds an EventsDropped marker in their place, but
// never slows the pool or other watchers.
//
// Ordering: events come in the order the pool's tables changed, each
// published after the change it reports, so a watcher that sees
// EventConnectionEstablished finds the connection in Conns.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Watch(ctx context.Context, buffer int) *Watcher {
	return p.events.watch(ctx, buffer)
}

// Condition is one of octez's pool conditions (P2p_trigger,
// src/lib_p2p/p2p_trigger.mli), which Pool.Wait waits for.
type Condition uint8

// Conditions. Each is an occurrence, not a state: octez broadcasts
// them, and a waiter sees the next one after it started waiting.
const (
	// CondTooFewConnections: a connection ended, leaving fewer than
	// MinConnections (octez wait_too_few_connections, broadcast at
	// p2p_connect_handler.ml:249-250).
	CondTooFewConnections Condition = iota + 1
	// CondTooManyConnections: a connection was established, making
	// MaxConnections or more (octez wait_too_many_connections,
	// p2p_connect_handler.ml:272-273).
	CondTooManyConnections
	// CondNewPeer: a peer id was added to the known peers (octez
	// wait_new_peer, p2p_pool.ml:233); EventNewPeer reports it.
	CondNewPeer
	// CondNewPoint: a point was added to the known points (octez
	// wait_new_point, p2p_pool.ml:157); EventNewPoint reports it.
	CondNewPoint
	// CondNewConnection: a connection was established (octez
	// wait_new_connection, p2p_connect_handler.ml:232);
	// EventConnectionEstablished reports it.
	CondNewConnection
	numConditions
)

var conditionNames = [numConditions]string{"", "too_few_connections", "too_many_connections", "new_peer", "new_point", "new_connection"}

func (c Condition) String() string {
	if c > 0 && c < numConditions {
		return conditionNames[c]
	}
	return fmt.Sprintf("condition(%d)", uint8(c))
}

// Wait waits for the next occurrence of c after the call (octez's
// P2p_trigger waits: wait_too_few_connections, wait_too_many_connections,
// wait_new_peer, wait_new_point, wait_new_connection). It returns nil when
// c occurs, ctx's cause (context.Cause) when ctx ends first, and
// ErrPoolClosed when the pool closes or has closed. A waiter holds no
// goroutine and no event buffer: it never misses the occurrence, however
// busy the pool, and leaves nothing behind when it returns. An unknown
// Condition is an error. To wait for an occurrence that something done
// after the call may cause, take Pool.Next first.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Wait(ctx context.Context, c Condition) error {
	if p.life.isClosed() {
		return ErrPoolClosed
	}
	if c == 0 || c >= numConditions {
		return fmt.Errorf("p2ppool: Wait: %v is not a condition", c)
	}
	select {
	case <-p.events.condition(c):
		if p.life.isClosed() {
			return ErrPoolClosed
		}
		return nil
	case <-p.life.done:
		return ErrPoolClosed
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Next returns a channel closed at the next occurrence of c after the
// call, the two halves of Wait apart: take it, do what may cause c, then
// receive. It is closed too when the pool closes (and at once after), so
// that no receiver waits forever; it is nil, never ready, for an unknown
// Condition.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Next(c Condition) <-chan struct{} {
	if c == 0 || c >= numConditions {
		return nil
	}
	return p.events.condition(c)
}
