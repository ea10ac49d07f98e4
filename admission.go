package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/p2ppool/p2ppool/internal/sched"
	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// RefusalReason classifies why an incoming connection was refused, for
// the counters of Stats.
type RefusalReason uint8

// Refusal reasons.
const (
	RefusedTooManyIncoming RefusalReason = iota
	RefusedBanned                        // address or peer banned or greylisted
	RefusedUnexpectedPeer
	RefusedTooManyConnections
	RefusedAlreadyConnected
	RefusedNoCommonVersion
	RefusedPrivateMode
	RefusedMyself
	RefusedHandshakeFailed     // bad proof of work, decipher or decoding failure, peer gone
	RefusedByPeer              // the peer nacked our ack
	RefusedPendingPerAddr      // MaxPendingPerAddr handshakes already from this address
	RefusedPendingPerSubnet    // MaxPendingPerSubnet handshakes already from this subnet
	RefusedIncomingPerAddr     // MaxIncomingPerAddr connections already from this address
	RefusedIncomingPerSubnet   // MaxIncomingPerSubnet connections already from this subnet
	RefusedHandshakeEvicted    // its slot went to a newer socket (all slots busy)
	RefusedFirstMessageTimeout // no connection message within Timeouts.FirstMessage
	RefusedHandshakeTimeout    // the handshake outlasted Timeouts.Authentication
	numRefusals
)

var refusalNames = [numRefusals]string{"too many incoming", "banned", "unexpected peer", "too many connections", "already connected",
	"no common version", "private mode", "myself", "handshake failed", "rejected by peer",
	"too many pending from address", "too many pending from subnet", "too many from address", "too many from subnet",
	"handshake evicted", "first message timeout", "handshake timeout"}

func (r RefusalReason) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// connect is Pool.Connect: a point the application gives, dialled once
// the dial limiter has a slot for it (Connect waits for one within ctx).
func (p *core) connect(ctx context.Context, point netip.AddrPort) (*conn, error) {
	untrack, err := p.enter()
	if err != nil {
		return nil, err
	}
	defer p.leave(untrack)
	point = wire.NormalizePoint(point)
	if err := p.takeDial(ctx, point, true); err != nil {
		return nil, err
	}
	return p.attempt(ctx, point)
}

// attempt makes the attempt to point, requested and holding a slot of the
// limiter (takeDial); both are given back when it ends.
func (p *core) attempt(ctx context.Context, point netip.AddrPort) (*conn, error) {
	d := &dialAttempt{}
	defer p.endDial(d)
	ctx, cancel := p.handshakeContext(ctx, p.cfg.Timeouts.Connection)
	defer cancel()
	nc, err := p.cfg.Dialer.DialContext(ctx, "tcp", point.String())
	if err != nil {
		p.pointFailed(point)
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
		p.handshakeFailed(err)
		p.pointFailed(point)
		return nil, fmt.Errorf("connect %v: %w", point, err)
	}
	return c, nil
}

// requestableLocked runs octez's checks before dialling, in octez's
// order, and returns the point's record. A point the application gives
// (user) is registered if need be and is no longer a learned one; the pool
// dials of its own accord only points it knows, and learned ones only if
// the scope rule allows. p.mu must be held.
func (p *core) requestableLocked(point netip.AddrPort, user bool) (*pointInfo, error) {
	if p.acl.bannedAddr(point.Addr()) {
		return nil, ErrPointBanned
	}
	// Dials in flight hold a connection slot, as handshakes past
	// admission do: a burst of dials cannot overshoot the limit.
	if len(p.conns)+p.accepted+p.dialing >= p.limits.MaxConnections {
		return nil, ErrTooManyConnections
	}
	var pi *pointInfo
	if user {
		pi = p.registerPointLocked(point)
		pi.Learned = false
	} else if pi = p.points[point]; pi == nil {
		return nil, errPointForgotten
	} else if !p.dialableLocked(pi) {
		return nil, errNotDialable
	}
	if p.cfg.Network.ClosedNetwork && !pi.Trusted {
		return nil, ErrPrivateMode
	}
	switch pi.State {
	case PointRequested, PointAccepted:
		return nil, ErrPendingConnection
	case PointRunning:
		return nil, ErrAlreadyConnected
	}
	return pi, nil
}

// markRequestedLocked marks pi requested, counting the attempt among the
// dials in flight. p.mu must be held.
func (p *core) markRequestedLocked(pi *pointInfo, now time.Time) {
	pi.setRequested(now)
	p.dialing++
	p.publishLocked(Event{Kind: EventOutgoingConnection, Point: pi.Point})
}

// abandonDial undoes takeDial for an attempt that never dialled: the
// point goes back to disconnected with no back-off (it did nothing), and
// the slot is given back.
func (p *core) abandonDial(point netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.abandonDialLocked(point)
}

// abandonDialLocked is abandonDial with p.mu held.
func (p *core) abandonDialLocked(point netip.AddrPort) {
	p.dialing--
	if pi := p.points[point]; pi != nil && pi.State == PointRequested {
		pi.State = PointDisconnected
	}
	p.releaseDialLocked()
}

// endDial ends an attempt: it leaves the dials in flight, if admit has
// not taken it out already, and gives its slot back.
func (p *core) endDial(d *dialAttempt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !d.admitted {
		p.dialing--
	}
	p.releaseDialLocked()
}

// pointFailed returns a requested or accepted point to disconnected after a
// failed attempt, with octez's back-off. octez leaves the point requested
// forever when the peer turns out banned or unexpected (spec §12 quirk 1);
// here it can be retried once the back-off allows.
func (p *core) pointFailed(point netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pi := p.points[point]; pi != nil && (pi.State == PointRequested || pi.State == PointAccepted) {
		pi.setDisconnected(&p.cfg.Reconnection, time.Now())
	}
}

// accept is Pool.Accept.
func (p *core) accept(ctx context.Context, nc net.Conn) (*conn, error) {
	untrack, err := p.enter()
	if err != nil {
		nc.Close()
		return nil, err
	}
	defer p.leave(untrack)
	socketPoint, _ := addrPortOf(nc.RemoteAddr())
	addr := socketPoint.Addr()
	hctx, evict := context.WithCancelCause(ctx)
	defer evict(nil)
	p.mu.Lock()
	p.publishLocked(Event{Kind: EventIncomingConnection, Point: socketPoint})
	if p.acl.bannedAddr(addr) {
		p.mu.Unlock()
		p.refuse(socketPoint, RefusedBanned, nil) // counted before the peer can see the close
		nc.Close()
		return nil, ErrPointBanned
	}
	if r, err := p.incomingShareLocked(addr); err != nil {
		p.mu.Unlock()
		p.refuse(socketPoint, r, err)
		nc.Close()
		return nil, err
	}
	h, victim, r, ok := p.pending.admit(&p.cfg, p.groups, addr, evict, time.Now(), &p.fails)
	p.mu.Unlock()
	if !ok {
		p.refuse(socketPoint, r, nil)
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
	defer func() {
		p.mu.Lock()
		p.pending.remove(h)
		p.mu.Unlock()
	}()
	hctx, cancel := p.handshakeContext(hctx, p.cfg.Timeouts.Authentication)
	defer cancel()
	c, err := p.establish(hctx, nc, true, netip.AddrPort{}, p.cfg.Timeouts.FirstMessage, h, nil)
	if err != nil {
		testHookIncomingFailed()
		r := refusalOf(err)
		if !h.refused {
			p.handshakeFailed(err)
			p.refuse(socketPoint, r, err)
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
			p.handshakeStalled(h, addr)
		}
		return nil, fmt.Errorf("accept from %v: %w", nc.RemoteAddr(), err)
	}
	return c, nil
}

// testHookIncomingFailed runs when an incoming handshake has failed, the
// socket closed; a test holds the pool there to look at what the refused
// peer can see.
var testHookIncomingFailed = func() {}

// incomingShareLocked refuses a socket from addr when its address or its
// subnet already has its share of established incoming connections.
// p.mu must be held.
func (p *core) incomingShareLocked(addr netip.Addr) (RefusalReason, error) {
	if !p.groups.limited(addr) {
		return 0, nil
	}
	ak, sk := p.groups.addr(addr), p.groups.subnet(addr)
	var sameAddr, sameSubnet int
	for _, c := range p.conns {
		if !c.info.Incoming || !c.remoteAddr.IsValid() {
			continue
		}
		if p.groups.addr(c.remoteAddr) == ak {
			sameAddr++
		}
		if p.groups.subnet(c.remoteAddr) == sk {
			sameSubnet++
		}
	}
	// Handshakes past admission, not yet running, hold their slot too.
	for _, h := range p.pending.all {
		if h.admitted {
			if h.addr == ak {
				sameAddr++
			}
			if h.subnet == sk {
				sameSubnet++
			}
		}
	}
	switch {
	case sameAddr >= p.cfg.Admission.MaxIncomingPerAddr:
		return RefusedIncomingPerAddr, ErrTooManyFromAddress
	case sameSubnet >= p.cfg.Admission.MaxIncomingPerSubnet:
		return RefusedIncomingPerSubnet, ErrTooManyFromSubnet
	}
	return 0, nil
}

// handshakeStalled counts an incoming handshake from addr that timed
// out, stalled or was evicted; enough of them greylist the address, as a
// bad proof of work does at once (octez never greylists for these).
func (p *core) handshakeStalled(h *pendingHandshake, addr netip.Addr) {
	if !h.limited {
		return
	}
	p.mu.Lock()
	full := p.fails.add(h.addr, p.cfg.Admission.HandshakeFailureLimit, time.Now())
	p.mu.Unlock()
	if full {
		p.log.Debug("greylisting an address whose handshakes keep stalling", "addr", addr)
		p.punish(addr, PeerID{})
	}
}

// refuse counts an incoming connection from remote refused for r and
// logs it at Debug (a peer can make as many as it likes) with the remote
// address and the reason, and err when it says more than the reason.
func (p *core) refuse(remote netip.AddrPort, r RefusalReason, err error) {
	p.refused[r].Add(1)
	p.cfg.Metrics.ConnRefused(r)
	if err != nil {
		p.log.Debug("incoming connection refused", "remote", remote, "reason", r.String(), "err", err)
	} else {
		p.log.Debug("incoming connection refused", "remote", remote, "reason", r.String())
	}
}

// handshakeFailed reports a failed establish to the metrics when the
// error is a handshake's (not, say, ErrPoolClosed).
func (p *core) handshakeFailed(err error) {
	var he *HandshakeError
	if errors.As(err, &he) {
		p.cfg.Metrics.HandshakeFailed(he.Stage, err)
	}
}

func refusalOf(err error) RefusalReason {
	switch {
	case errors.Is(err, ErrHandshakeEvicted):
		return RefusedHandshakeEvicted
	case errors.Is(err, ErrFirstMessageTimeout):
		return RefusedFirstMessageTimeout
	case errors.Is(err, ErrTimeout):
		return RefusedHandshakeTimeout
	case errors.Is(err, ErrTooManyFromAddress):
		return RefusedIncomingPerAddr
	case errors.Is(err, ErrTooManyFromSubnet):
		return RefusedIncomingPerSubnet
	case errors.Is(err, ErrTooManyConnections):
		return RefusedTooManyConnections
	case errors.Is(err, ErrAlreadyConnected):
		return RefusedAlreadyConnected
	case errors.Is(err, ErrNoCommonVersion):
		return RefusedNoCommonVersion
	case errors.Is(err, ErrPrivateMode):
		return RefusedPrivateMode
	case errors.Is(err, ErrMyself):
		return RefusedMyself
	case errors.Is(err, ErrRejected):
		return RefusedByPeer
	case errors.Is(err, ErrPeerBanned), errors.Is(err, ErrPointBanned):
		return RefusedBanned
	case errors.Is(err, ErrUnexpectedPeer):
		return RefusedUnexpectedPeer
	}
	return RefusedHandshakeFailed
}

// handshakeContext bounds a handshake by ctx, the timeout and the pool's
// life; the timeout's cause is ErrTimeout.
func (p *core) handshakeContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, socket.ErrTimeout)
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.ctx, func() { cancel(ErrPoolClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
		cancelTimeout()
	}
}

// admission is the outcome of the checks between metadata and ack.
type admission struct {
	motive wire.NackMotive // nack with this motive when err is set and nack is true
	nack   bool
	err    error
	// evict, when the pool was full, is the connection whose slot the
	// newcomer takes: the caller ends it once the lock is released.
	evict *conn
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
	cfg := p.sockCfg
	cfg.Port = uint16(p.port.Load())
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
	var localMeta any
	cfg.LocalMetadata = func(id [16]byte) []byte {
		m, b := p.connMeta.local(PeerID(id))
		localMeta = m
		return b
	}
	auth, err := socket.Authenticate(ctx, nc, incoming, &cfg)
	if err != nil {
		if socket.ShouldGreylist(err) {
			// Bad proof of work, decipher or decoding failures: octez
			// greylists the address.
			p.punish(socketPoint.Addr(), PeerID{})
		}
		err = fromSocketError(err)
		if errors.Is(err, ErrMyself) && dialled.IsValid() {
			p.rememberMyself(dialled)
		}
		p.publish(Event{Kind: EventAuthenticationFailed, Point: socketPoint, Err: err})
		return nil, err
	}
	remote := auth.Remote()
	peer := PeerID(remote.PeerID)
	idPoint := dialled
	if incoming && remote.Port != 0 && socketPoint.IsValid() {
		idPoint = netip.AddrPortFrom(socketPoint.Addr(), remote.Port)
	}
	meta, private, err := p.connMeta.decode(remote.Metadata)
	if err != nil {
		auth.Close()
		p.punish(socketPoint.Addr(), PeerID{})
		err = &HandshakeError{Stage: StageMetadata, Peer: peer, Err: fmt.Errorf("%w: connection metadata: %w", ErrDecode, err)}
		p.publish(Event{Kind: EventAuthenticationFailed, Point: socketPoint, Err: err})
		return nil, err
	}
	version, verr := p.versions.Select(remote.Version)

	adm := p.admit(socketPoint, peer, idPoint, dialled, incoming, private, verr, h, d)
	if adm.err != nil {
		herr := &HandshakeError{Stage: StageAck, Peer: peer, Err: adm.err}
		if h != nil {
			// Counted before the peer can see the refusal, as the
			// refusals before the handshake are.
			p.handshakeFailed(herr)
			p.refuse(socketPoint, refusalOf(adm.err), adm.err)
			h.refused = true
		}
		if adm.nack {
			p.mu.Lock()
			alternatives := p.knownPointsLocked(maxAdvertised)
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
		p.evictions.Add(1)
		v.log.Debug("evicted for a peer of a less represented subnet", "newcomer", socketPoint, "reason", ReasonEvicted.String())
		v.end(&DisconnectError{Reason: ReasonEvicted}, false)
	}
	sc, err := auth.Accept()
	if err != nil {
		err = fromSocketError(err)
		p.unaccept(socketPoint, peer, idPoint, err, h)
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

// admit runs octez's checks after authentication, in octez's order (spec
// §3.3: banned peer, point registration, expected peer id, peer
// registration, then acceptability: versions, slots, private mode, point
// and peer states) and, when they pass, marks peer and point accepted,
// holding a connection slot.
func (p *core) admit(socketPoint netip.AddrPort, peer PeerID, idPoint, dialled netip.AddrPort, incoming, private bool, verr error, h *pendingHandshake, d *dialAttempt) admission {
	now := time.Now()
	init := p.fresh()
	p.mu.Lock()
	defer p.mu.Unlock()
	if d != nil {
		// From here on the attempt is a handshake past admission (counted
		// in accepted) or a refused one: no longer a dial in flight.
		d.admitted = true
		p.dialing--
	}
	if p.closed {
		return admission{err: ErrPoolClosed}
	}
	if p.acl.bannedPeer(peer) {
		return admission{err: ErrPeerBanned}
	}
	var pt *pointInfo
	if idPoint.IsValid() && !slices.Contains(p.myPoints, idPoint) {
		if incoming {
			// The peer's own address and the port it announced: a point
			// learned from it, kept only if the table has room.
			pt = p.learnPointLocked(idPoint, socketPoint.Addr())
		} else {
			pt = p.registerPointLocked(idPoint)
		}
	}
	if pt != nil && !pt.ExpectedPeer.IsZero() && pt.ExpectedPeer != peer {
		return admission{err: fmt.Errorf("%w: %v at %v, expected %v", ErrUnexpectedPeer, peer, idPoint, pt.ExpectedPeer)}
	}
	pe := p.registerPeerLocked(peer, init)
	if pt != nil {
		// octez records whether the point is public whatever the outcome.
		pt.KnownPublic = !private
	}
	full := len(p.conns)+p.accepted+p.dialing-p.evicting >= p.connectionsThreshold()
	var victim *conn
	if full && incoming {
		victim = p.evictionVictimLocked(socketPoint.Addr())
	}
	var ve *VersionError
	switch {
	case errors.As(verr, &ve):
		if !incoming && dialled.IsValid() {
			// A node of another network: octez forgets the point (spec
			// §3.3-12), unless the operator trusts it.
			if pi := p.points[dialled]; pi != nil && !pi.Trusted {
				pi.setDisconnected(&p.cfg.Reconnection, now)
				delete(p.points, dialled)
			}
		}
		return admission{nack: true, motive: ve.Motive, err: ve}
	case full && victim == nil:
		return admission{nack: true, motive: wire.TooManyConnections, err: ErrTooManyConnections}
	case p.cfg.Network.ClosedNetwork && !(pt != nil && pt.Trusted) && !pe.Trusted:
		return admission{err: ErrPrivateMode}
	case pt != nil && (pt.State == PointAccepted || pt.State == PointRunning || pt.State == PointRequested && incoming):
		return admission{nack: true, motive: wire.AlreadyConnected, err: ErrAlreadyConnected}
	case pe.State != PeerDisconnected:
		return admission{nack: true, motive: wire.AlreadyConnected, err: ErrAlreadyConnected}
	}
	if h != nil {
		// Checked again now that the handshake is over: the sockets from
		// the same address that passed Accept's check together must not
		// all get in.
		if _, err := p.incomingShareLocked(socketPoint.Addr()); err != nil {
			return admission{nack: true, motive: wire.TooManyConnections, err: err}
		}
		h.admitted = true
	}
	if pt != nil {
		pt.setAccepted(peer, now)
	}
	pe.setAccepted(idPoint, now)
	p.accepted++
	if victim != nil {
		victim.evicted = true
		p.evicting++
	}
	p.publishLocked(Event{Kind: EventAcceptingRequest, Point: socketPoint, IDPoint: idPoint, Peer: peer})
	return admission{evict: victim}
}

// evictionVictimLocked picks the established incoming connection to end
// so that a newcomer from addr can come in when the pool is full (see
// selectEviction), or nil. Trusted peers and points are never evicted.
// p.mu must be held.
func (p *core) evictionVictimLocked(addr netip.Addr) *conn {
	if !addr.IsValid() {
		return nil
	}
	var cands []evictCandidate
	for _, c := range p.conns {
		if !c.info.Incoming || c.evicted || !c.remoteAddr.IsValid() || p.trustedConnLocked(c) {
			continue
		}
		cands = append(cands, evictCandidate{
			id: c.info.ID, subnet: p.groups.subnet(c.remoteAddr),
			established: c.info.Established, lastUseful: c.lastUseful.Load(),
		})
	}
	id, ok := selectEviction(cands, p.groups.subnet(addr), p.evictSeed, time.Now().UnixNano())
	if !ok {
		return nil
	}
	for _, c := range p.conns {
		if c.info.ID == id {
			return c
		}
	}
	return nil
}

// trustedConnLocked reports whether c's peer or point is trusted. p.mu
// must be held.
func (p *core) trustedConnLocked(c *conn) bool {
	if pe := p.peers[c.info.Peer]; pe != nil && pe.Trusted {
		return true
	}
	pt := p.points[c.info.Point]
	return c.info.Point.IsValid() && pt != nil && pt.Trusted
}

// connectionsThreshold is the count at which new connections are refused
// with Too_many_connections: octez's max threshold, max − (max −
// expected)/3 (84 by default), when the maintenance runs, else
// max_connections.
func (p *core) connectionsThreshold() int {
	if p.maintenanceEnabled() {
		return boundsOf(&p.limits).maxThreshold
	}
	return p.limits.MaxConnections
}

// unaccept undoes admit after a failed ack exchange: peer and point back
// off (octez Accepted -> Disconnected), and a nack's alternative points
// are learnt.
func (p *core) unaccept(socketPoint netip.AddrPort, peer PeerID, idPoint netip.AddrPort, err error, h *pendingHandshake) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if h != nil {
		h.admitted = false
	}
	p.accepted--
	if pe := p.peers[peer]; pe != nil && pe.State == PeerAccepted {
		pe.setDisconnected(now)
	}
	if pt := p.points[idPoint]; pt != nil && pt.State == PointAccepted && pt.Peer == peer {
		pt.setDisconnected(&p.cfg.Reconnection, now)
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		p.registerNewPointsLocked(rej.Points, socketPoint.Addr())
	}
	p.publishLocked(Event{Kind: EventRequestRejected, Point: socketPoint, IDPoint: idPoint, Peer: peer, Err: err})
}

// startConnection registers an accepted connection as running, starts its
// goroutines and runs the hooks.
func (p *core) startConnection(sc *socket.Conn, info ConnInfo[any], h *pendingHandshake) (*conn, error) {
	info.ID = p.nextID.Add(1)
	p.mu.Lock() // the queue sizes may change at run time (SetLimits)
	inMsgs, inBytes, outSize := p.limits.IncomingAppMessageQueueSize, p.limits.IncomingMessageQueueSize, p.limits.OutgoingMessageQueueSize
	p.mu.Unlock()
	remote, _ := addrPortOf(info.RemoteAddr)
	log := p.log
	if log.Handler() != slog.DiscardHandler {
		// Not for the default discarding logger: With builds the
		// attributes and a logger whatever the handler, 10 allocations
		// per connect (both ends) that nothing would read.
		log = log.With("peer", info.Peer, "point", info.Point, "remote", info.RemoteAddr, "conn", info.ID, "dir", direction(info.Incoming))
	}
	c := &conn{
		pool:       p,
		sc:         sc,
		info:       info,
		remoteAddr: remote.Addr(),
		log:        log,
		out:        newOutQueue(outSize, p.outBudget, nil),
		done:       make(chan struct{}),
		drain:      make(chan struct{}),
	}
	c.app = p.edge.attach(c, inMsgs, inBytes)
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.out.life = c.ctx // before any write: a Write waiting for the budget ends with it
	sc.SetReserve(func(size int, tag uint16) error { return c.app.reserve(c.ctx, size, tag) })
	now := info.Established
	p.mu.Lock()
	if h != nil {
		h.admitted = false // from now on it counts in p.conns
	}
	p.accepted--
	if p.closed {
		if pe := p.peers[info.Peer]; pe != nil && pe.State == PeerAccepted {
			pe.setDisconnected(now)
		}
		if pt := p.points[info.Point]; pt != nil && pt.State == PointAccepted && pt.Peer == info.Peer {
			pt.setDisconnected(&p.cfg.Reconnection, now)
		}
		p.mu.Unlock()
		sc.Close()
		sc.Free()
		return nil, ErrPoolClosed
	}
	if pe := p.peers[info.Peer]; pe != nil {
		pe.setRunning(info.Point, now)
		c.restoreBudgets(pe.budgets)
	}
	if pt := p.points[info.Point]; info.Point.IsValid() && pt != nil {
		pt.setRunning(info.Peer, now)
	}
	p.conns[info.Peer] = c
	p.publishLocked(Event{Kind: EventConnectionEstablished, IDPoint: info.Point, Peer: info.Peer})
	if len(p.conns) >= p.limits.MaxConnections {
		// octez broadcast_too_many_connections (p2p_connect_handler.ml:272-273)
		p.events.broadcast(CondTooManyConnections)
		if p.maintenanceEnabled() {
			p.wakeMaintenance()
		}
	}
	if d := p.cfg.Timeouts.Write; d > 0 {
		if wc, ok := sc.NetConn().(*sched.Conn); ok {
			wc.SetWriteStallTimeout(d)
		}
	}
	p.goLocked(c.run)
	p.mu.Unlock()
	c.log.Debug("connection established")
	p.edge.established(c)
	return c, nil
}

// rememberMyself records a point that turned out to be this node, so it
// is neither kept nor dialled again (octez my_id_points, 7 entries).
func (p *core) rememberMyself(pt netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.myPoints, pt) {
		if len(p.myPoints) == 7 {
			p.myPoints = p.myPoints[1:]
		}
		p.myPoints = append(p.myPoints, pt)
	}
	if pi := p.points[pt]; pi != nil && !pi.Trusted {
		delete(p.points, pt)
	}
}

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
