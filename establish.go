package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// The flows that cross the parts: a connection from the dial or the
// accept to its run. Each step takes the pool lock for one decision of a
// part (the dialer's slot, admission's verdict, the registry's entry) and
// runs the handshake with no lock held.

// connect is Pool.Connect: a point the application gives, dialled once
// the dial limiter has a slot for it (Connect waits for one within ctx).
func (p *core) connect(ctx context.Context, point netip.AddrPort) (*conn, error) {
	reg, err := p.enter()
	if err != nil {
		return nil, err
	}
	defer p.life.leave(reg)
	point = wire.NormalizePoint(point)
	if err := p.dial.take(ctx, point, true); err != nil {
		return nil, err
	}
	return p.attempt(ctx, point)
}

// attempt makes the attempt to point, requested and holding a slot of the
// limiter (takeDial); both are given back when it ends.
func (p *core) attempt(ctx context.Context, point netip.AddrPort) (*conn, error) {
	d := &dialAttempt{}
	defer p.dial.end(d)
	ctx, cancel := p.life.handshakeContext(ctx, p.cfg.Timeouts.Connection)
	defer cancel()
	nc, err := p.cfg.Dialer.DialContext(ctx, "tcp", point.String())
	if err != nil {
		p.dial.pointFailed(point)
		if ctx.Err() != nil {
			// The dial was cut short: say why, as the handshake does
			// (ErrTimeout, ErrPoolClosed or the cause of the caller's
			// ctx); dial errors do not wrap it.
			return nil, fmt.Errorf("%w: connect %v: %w", context.Cause(ctx), point, err)
		}
		return nil, fmt.Errorf("%w: connect %v: %w", ErrConnectionFailed, point, err)
	}
	c, err := p.establish(ctx, nc, false, point, 0, nil, d)
	if err != nil {
		p.count.handshakeFailed(err)
		p.dial.pointFailed(point)
		return nil, fmt.Errorf("connect %v: %w", point, err)
	}
	return c, nil
}

// accept is Pool.Accept.
func (p *core) accept(ctx context.Context, nc net.Conn) (*conn, error) {
	reg, err := p.enter()
	if err != nil {
		nc.Close()
		return nil, err
	}
	defer p.life.leave(reg)
	socketPoint, _ := addrPortOf(nc.RemoteAddr())
	// One context for the handshake: evict cancels it (eviction), and so
	// does the pool's close, with ErrPoolClosed: Serve's ctx is the pool's
	// own, whose cause it is; an Accept's ctx is the caller's, so a
	// watcher adds it. The Authentication timeout is the socket's
	// deadline (establish), not a context's timer.
	hctx, evict := context.WithCancelCause(ctx)
	defer evict(nil)
	if ctx != p.life.ctx {
		stop := context.AfterFunc(p.life.ctx, func() { evict(ErrPoolClosed) })
		defer stop()
	}
	h, err := p.admitIncoming(nc, socketPoint, evict)
	if err != nil {
		return nil, err
	}
	defer p.adm.handshakeDone(h)
	// establish's steps, called from here rather than through it: one
	// frame less under the handshake (see below).
	wrapped := p.sched.Wrap(nc)
	auth, localMeta, err := p.authenticate(hctx, wrapped, true, netip.AddrPort{}, p.cfg.Timeouts.FirstMessage, h, nil, socketPoint)
	testHookAuthenticated()
	var c *conn
	if err == nil {
		c, err = p.admitAuthenticated(auth, wrapped, socketPoint, true, netip.AddrPort{}, localMeta, h, nil)
	}
	if err != nil {
		return nil, p.incomingFailed(nc, socketPoint, h, err)
	}
	return c, nil
}

// The steps of accept before and after the handshake are functions of
// their own, kept out of line, as are establish's (authenticate,
// authenticationFailed, admitAuthenticated): a handshake runs on top of
// these frames, and with them all under it an incoming handshake's
// goroutine outgrew 4 KB and copied its stack to 8 KB, at every
// connection (TestHandshakeFitsInFourKB keeps it under).

// admitIncoming runs the address checks of an incoming socket from
// socketPoint and takes a handshake slot for it (evict aborts its
// handshake); on refusal it closes nc.
//
//go:noinline
func (p *core) admitIncoming(nc net.Conn, socketPoint netip.AddrPort, evict context.CancelCauseFunc) (*pendingHandshake, error) {
	addr := socketPoint.Addr()
	p.mu.Lock()
	p.publishLocked(Event{Kind: EventIncomingConnection, Point: socketPoint})
	if p.acl.bannedAddr(addr) {
		p.mu.Unlock()
		p.count.refuse(socketPoint, RefusedBanned, nil) // counted before the peer can see the close
		nc.Close()
		return nil, ErrPointBanned
	}
	if r, err := p.adm.incomingShareLocked(addr); err != nil {
		p.mu.Unlock()
		p.count.refuse(socketPoint, r, err)
		nc.Close()
		return nil, err
	}
	h, victim, r, ok := p.adm.admitHandshakeLocked(addr, evict, time.Now())
	p.mu.Unlock()
	if !ok {
		p.count.refuse(socketPoint, r, nil)
		nc.Close()
		if r == RefusedTooManyIncoming {
			return nil, ErrTooManyIncoming
		}
		if r == RefusedPendingPerAddr {
			return nil, ErrTooManyFromAddress
		}
		return nil, ErrTooManyFromSubnet
	}
	if victim != nil {
		victim.evict(ErrHandshakeEvicted)
	}
	return h, nil
}

// incomingFailed counts a failed incoming handshake, scores the stall it
// may have been, and returns the error accept returns.
//
//go:noinline
func (p *core) incomingFailed(nc net.Conn, socketPoint netip.AddrPort, h *pendingHandshake, err error) error {
	testHookIncomingFailed()
	r := refusalOf(err)
	if !h.refused {
		p.count.handshakeFailed(err)
		p.count.refuse(socketPoint, r, err)
	}
	// Timeouts count toward the address's stall score; so does an
	// eviction, but only of a handshake that had been slow (half the
	// first-message bound): a fast honest handshake that happened to
	// be the oldest when the slots ran out is no staller.
	patience := p.cfg.Timeouts.FirstMessage
	if patience <= 0 {
		patience = p.cfg.Timeouts.Authentication
	}
	slow := r == RefusedHandshakeEvicted && time.Since(h.started) >= patience/2
	if slow || r == RefusedFirstMessageTimeout || r == RefusedHandshakeTimeout {
		p.adm.handshakeStalled(h, socketPoint.Addr())
	}
	return fmt.Errorf("accept from %v: %w", nc.RemoteAddr(), err)
}

// establish runs the handshake on nc and, if the peer is admitted, creates
// the connection (octez authenticate then create_connection). dialled is
// the point we dialled (outgoing) or invalid (incoming); firstMessage
// bounds the wait for the peer's connection message (0: none).
//
// h is the incoming handshake's entry (nil for an outgoing one): from
// admission until the connection runs or fails it counts toward its
// address's share of established connections. d is the outgoing attempt
// (nil for an incoming one), among the dials in flight until admission.
func (p *core) establish(ctx context.Context, nc net.Conn, incoming bool, dialled netip.AddrPort, firstMessage time.Duration, h *pendingHandshake, d *dialAttempt) (*conn, error) {
	socketPoint, _ := addrPortOf(nc.RemoteAddr())
	// From here on the connection's bytes go through the bandwidth
	// scheduler, handshake included, as in octez; closing the wrapper
	// closes nc.
	nc = p.sched.Wrap(nc)
	auth, localMeta, err := p.authenticate(ctx, nc, incoming, dialled, firstMessage, h, d, socketPoint)
	if err != nil {
		return nil, err
	}
	return p.admitAuthenticated(auth, nc, socketPoint, incoming, dialled, localMeta, h, d)
}

// authenticate is establish's handshake (socket.Authenticate), with the
// socket configuration of this pool and peer; localMeta is what it
// announced. Out of line, as accept's steps are: the configuration is
// large, and the handshake runs on top of this frame.
//
//go:noinline
func (p *core) authenticate(ctx context.Context, nc net.Conn, incoming bool, dialled netip.AddrPort, firstMessage time.Duration, h *pendingHandshake, d *dialAttempt, socketPoint netip.AddrPort) (auth *socket.AuthConn, localMeta any, err error) {
	cfg := p.hello.sock
	cfg.Port = uint16(p.hello.port.Load())
	if incoming {
		// An outgoing handshake is bounded by ctx (attempt's
		// Timeouts.Connection covers the dial too).
		cfg.Timeout = p.cfg.Timeouts.Authentication
	}
	if firstMessage > 0 {
		cfg.FirstMessageTimeout = firstMessage
	}
	if h != nil {
		cfg.FirstMessageReceived = func() {
			p.mu.Lock()
			h.progressed = true
			p.mu.Unlock()
		}
	}
	// The metadata announced depends on the peer (ConnMetaConfig.Local):
	// computed once its connection message is in.
	cfg.LocalMetadata = func(id [16]byte) []byte {
		m, b := p.connMeta.local(PeerID(id))
		localMeta = m
		return b
	}
	auth, err = socket.Hello(ctx, nc, incoming, &cfg)
	if err != nil {
		return nil, nil, p.authenticationFailed(err, socketPoint, dialled)
	}
	// Our ack goes out with our metadata when admission, run now, would
	// accept the peer; else in octez's order, after the peer's metadata
	// and admission (socket.AuthConn.ExchangeMetadata).
	early := auth.Remote().PublicKey != cfg.PublicKey && p.clearToAck(auth.Remote(), incoming, dialled, socketPoint, h, d)
	if err := auth.ExchangeMetadata(&cfg, early); err != nil {
		return nil, nil, p.authenticationFailed(err, socketPoint, dialled)
	}
	return auth, localMeta, nil
}

// clearToAck is admission.clearToAck for what the connection messages
// told.
//
//go:noinline
func (p *core) clearToAck(remote *socket.Remote, incoming bool, dialled, socketPoint netip.AddrPort, h *pendingHandshake, d *dialAttempt) bool {
	if _, verr := p.hello.versions.Select(remote.Version); verr != nil {
		return false
	}
	return p.adm.clearToAck(socketPoint, PeerID(remote.PeerID), idPointOf(remote, incoming, dialled, socketPoint), incoming, h, d)
}

// idPointOf is the point a peer is known by: the one we dialled, or for
// an incoming connection its address with the port it announced (none if
// it announced none).
func idPointOf(remote *socket.Remote, incoming bool, dialled, socketPoint netip.AddrPort) netip.AddrPort {
	if incoming && remote.Port != 0 && socketPoint.IsValid() {
		return netip.AddrPortFrom(socketPoint.Addr(), remote.Port)
	}
	return dialled
}

// authenticationFailed greylists, remembers and publishes what a failed
// handshake calls for, and returns the error establish returns.
//
//go:noinline
func (p *core) authenticationFailed(err error, socketPoint, dialled netip.AddrPort) error {
	if socket.ShouldGreylist(err) {
		// Bad proof of work, decipher or decoding failures: octez
		// greylists the address.
		p.acl.punish(socketPoint.Addr(), PeerID{})
	}
	err = fromSocketError(err)
	if errors.Is(err, ErrMyself) && dialled.IsValid() {
		p.tab.rememberMyself(dialled)
	}
	p.events.publish(Event{Kind: EventAuthenticationFailed, Point: socketPoint, Err: err})
	return err
}

// admitAuthenticated runs the admission of an authenticated peer, then
// sends and reads the acks and starts the connection (the second half of
// establish).
//
//go:noinline
func (p *core) admitAuthenticated(auth *socket.AuthConn, nc net.Conn, socketPoint netip.AddrPort, incoming bool, dialled netip.AddrPort, localMeta any, h *pendingHandshake, d *dialAttempt) (*conn, error) {
	remote := auth.Remote()
	peer := PeerID(remote.PeerID)
	idPoint := idPointOf(remote, incoming, dialled, socketPoint)
	meta, private, err := p.connMeta.decode(remote.Metadata)
	if err != nil {
		auth.Close()
		p.acl.punish(socketPoint.Addr(), PeerID{})
		err = &HandshakeError{Stage: StageMetadata, Peer: peer, Err: fmt.Errorf("%w: connection metadata: %w", ErrDecode, err)}
		p.events.publish(Event{Kind: EventAuthenticationFailed, Point: socketPoint, Err: err})
		return nil, err
	}
	version, verr := p.hello.versions.Select(remote.Version)

	adm := p.adm.admit(socketPoint, peer, idPoint, dialled, incoming, private, verr, h, d)
	if adm.err != nil {
		herr := &HandshakeError{Stage: StageAck, Peer: peer, Err: adm.err}
		if h != nil {
			// Counted before the peer can see the refusal, as the
			// refusals before the handshake are.
			p.count.handshakeFailed(herr)
			p.count.refuse(socketPoint, refusalOf(adm.err), adm.err)
			h.refused = true
		}
		if adm.nack {
			p.mu.Lock()
			alternatives := p.tab.knownPointsLocked(maxAdvertised)
			p.publishLocked(Event{Kind: EventRejectingRequest, Point: socketPoint, IDPoint: idPoint, Peer: peer, Err: adm.err})
			p.mu.Unlock()
			if p.cfg.Network.DisablePeerDiscovery {
				alternatives = nil
			}
			auth.Nack(adm.motive, alternatives)
		} else {
			auth.Close()
		}
		return nil, herr
	}
	if v := adm.evict; v != nil {
		p.count.evictions.Add(1)
		v.log.Debug("evicted for a peer of a less represented subnet", "newcomer", socketPoint, "reason", ReasonEvicted.String())
		v.end(&DisconnectError{Reason: ReasonEvicted}, false)
	}
	sc, err := auth.Accept()
	if err != nil {
		err = fromSocketError(err)
		p.adm.unaccept(socketPoint, peer, idPoint, err, h)
		return nil, err
	}
	info := ConnInfo[any]{
		Peer:        peer,
		Point:       idPoint,
		RemoteAddr:  nc.RemoteAddr(),
		Incoming:    incoming,
		Version:     version,
		Announced:   remote.Version,
		LocalMeta:   localMeta,
		RemoteMeta:  meta,
		PrivateNode: private,
		Established: time.Now(),
	}
	return p.startConnection(sc, info, h)
}

// startConnection registers an accepted connection as running, starts its
// goroutines and runs the hooks.
func (p *core) startConnection(sc *socket.Conn, info ConnInfo[any], h *pendingHandshake) (*conn, error) {
	info.ID = p.reg.nextID.Add(1)
	p.mu.Lock() // the queue sizes may change at run time (SetLimits)
	inMsgs, inBytes, outSize := p.limits.IncomingAppMessageQueueSize, p.limits.IncomingMessageQueueSize, p.limits.OutgoingMessageQueueSize
	p.mu.Unlock()
	remote, _ := addrPortOf(info.RemoteAddr)
	c := &conn{
		pool:       p,
		sc:         sc,
		info:       info,
		remoteAddr: remote.Addr(),
		log:        p.log,
		out:        newOutQueue(outSize, p.outBudget, nil, nil),
		done:       make(chan struct{}),
	}
	c.out.starter, c.writerFunc = c, c.writer // the queue is held until the reader runs (unhold)
	if h := p.log.Handler(); h != slog.DiscardHandler {
		// Not for the default discarding logger, whose With would still
		// build the attributes and a logger.
		c.log = slog.New(&connLogHandler{base: h, info: &c.info})
	}
	c.app = p.edge.attach(c, inMsgs, inBytes)
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.out.life = c.ctx // before any write: a Write waiting for the budget ends with it
	sc.SetReserve((*connReserver)(c))
	now := info.Established
	p.mu.Lock()
	if h != nil {
		h.admitted = false // from now on it counts in p.reg.conns
	}
	p.reg.accepted--
	if p.reg.closed {
		if pe := p.tab.peers[info.Peer]; pe != nil && pe.State == PeerAccepted {
			pe.setDisconnected(now)
		}
		if pt := p.tab.points[info.Point]; pt != nil && pt.State == PointAccepted && pt.Peer == info.Peer {
			pt.setDisconnected(&p.cfg.Reconnection, now)
		}
		p.mu.Unlock()
		sc.Close()
		sc.Free()
		return nil, ErrPoolClosed
	}
	if pe := p.tab.peers[info.Peer]; pe != nil {
		pe.setRunning(info.Point, now)
		c.restoreBudgets(pe.budgets)
	}
	if pt := p.tab.points[info.Point]; info.Point.IsValid() && pt != nil {
		pt.setRunning(info.Peer, now)
	}
	p.reg.conns[info.Peer] = c
	p.publishLocked(Event{Kind: EventConnectionEstablished, IDPoint: info.Point, Peer: info.Peer})
	if len(p.reg.conns) >= p.limits.MaxConnections {
		// octez broadcast_too_many_connections (p2p_connect_handler.ml:272-273)
		p.events.broadcast(CondTooManyConnections)
		if maintains(&p.cfg) {
			p.maint.wakeLocked()
		}
	}
	if d := p.cfg.Timeouts.Write; d > 0 {
		if wc, ok := sc.NetConn().(*sched.Conn); ok {
			wc.SetWriteStallTimeout(d)
		}
	}
	nc := sc.NetConn()
	if wc, ok := nc.(*sched.Conn); ok {
		nc = wc.NetConn()
	}
	if rn, ok := nc.(readNotifier); ok {
		c.readable, c.resumeFunc = rn, c.resume
	}
	// Counted until its teardown is over (read), with or without a
	// reader goroutine: an idle reader may park.
	p.life.wg.Add(1)
	go c.run()
	p.mu.Unlock()
	c.log.Debug("connection established")
	p.edge.established(c)
	return c, nil
}

// testHookAuthenticated runs when an incoming handshake's first half
// (connection messages and metadata) has ended, on its goroutine;
// TestHandshakeFitsInFourKB bounds the stacks until then.
var testHookAuthenticated = func() {}

// testHookIncomingFailed runs when an incoming handshake has failed, the
// socket closed; a test holds the pool there to look at what the refused
// peer can see.
var testHookIncomingFailed = func() {}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

func direction(incoming bool) string {
	if incoming {
		return "in"
	}
	return "out"
}
