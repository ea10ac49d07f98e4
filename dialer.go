package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool/internal/rate"
)

// Dialer: the pool's outgoing attempts. Every attempt (Connect,
// ConnectPoint, the maintenance, swaps) takes a slot of one limiter that
// bounds the attempts running at once and those started per second; an
// attempt to a point learned from a peer takes a token of a second, slower
// bucket too, and is never made when the point is in a narrower scope
// than the peer that named it (see addrScope). octez has none of this: it
// dials whatever a peer advertises, as fast as its maintenance asks.

// Defaults of Config.Dial, bounds octez does not have.
const (
	// DefaultDialMaxInFlight is as many outgoing attempts as octez's
	// default max_incoming_connections lets incoming handshakes run.
	DefaultDialMaxInFlight = 20
)

// DefaultDialRate and DefaultLearnedDialRate are the defaults of
// DialConfig.Rate and DialConfig.Learned: 10 attempts a second (20 at
// once), of which 2 a second (20 at once) to points learned from peers,
// about Bitcoin Core's pace of one outbound attempt every 500 ms.
var (
	DefaultDialRate        = RateLimit{Rate: 10, Burst: 20}
	DefaultLearnedDialRate = RateLimit{Rate: 2, Burst: 20}
)

// DialConfig bounds the pool's outgoing connection attempts (Config.Dial).
// A zero field means its default.
type DialConfig struct {
	// MaxInFlight bounds the outgoing attempts (dial and handshake)
	// running at once, whoever started them. Connect waits for a slot
	// (bounded by its context); the maintenance waits too, one dial at a
	// time; a swap that finds no slot is not made. Attempts in flight
	// count against MaxConnections as handshakes past admission do. If
	// zero, DefaultDialMaxInFlight (20).
	MaxInFlight int
	// Rate bounds the attempts started per second, whoever asks. If zero,
	// DefaultDialRate (10/s, burst 20); Unlimited turns it off.
	Rate RateLimit
	// Learned bounds, on top of Rate, the attempts to points learned from
	// peers (Advertise, the alternatives of a nack, swaps, the points
	// peers dial in from): however many points peers name, the pool
	// dials them at this pace. Points the application gives (Connect,
	// Points().Register, Trust, TrustedPoints, the peers file) are not
	// learned. If zero, DefaultLearnedDialRate (2/s, burst 20); Unlimited
	// turns it off.
	Learned RateLimit
	// AllowNonRoutable lets the pool learn and dial private, loopback and
	// link-local points whatever the scope of the peer that named them.
	// By default a learned point must be globally routable, or in the
	// same scope as the address of the peer that named it: a peer on
	// loopback may name loopback points, a peer at a private address
	// (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) private points,
	// a link-local peer link-local points; a peer at a public address
	// names public points only. Unspecified, multicast, broadcast and
	// reserved addresses are never learned.
	AllowNonRoutable bool
}

func (d DialConfig) withDefaults() DialConfig {
	if d.MaxInFlight == 0 {
		d.MaxInFlight = DefaultDialMaxInFlight
	}
	d.Rate = d.Rate.or(DefaultDialRate)
	d.Learned = d.Learned.or(DefaultLearnedDialRate)
	return d
}

// validate reports settings that make no sense through bad.
func (d DialConfig) validate(bad func(format string, args ...any)) {
	if d.MaxInFlight < 0 {
		bad("Dial.MaxInFlight %d is negative", d.MaxInFlight)
	}
	for _, err := range []error{d.Rate.check("Dial.Rate"), d.Learned.check("Dial.Learned")} {
		if err != nil {
			bad("%w", err)
		}
	}
}

// dialer makes the pool's outgoing attempts: it runs octez's checks
// before a dial, holds the limiter (slots in flight, the rate and learned
// budgets) and the scope rule for learned points. Its fields are guarded
// by the pool lock (locks.go): taking a slot is a few comparisons, and it
// goes with the table and registry changes of the same attempt; the
// counters are atomic.
type dialer struct {
	// Immutable after newCore.
	mu     *poolMutex
	cfg    *Config
	conf   DialConfig // cfg.Dial with defaults applied
	log    *slog.Logger
	done   <-chan struct{} // closed when the pool closes
	tab    *tables
	reg    *registry
	acl    *acl
	events *eventHub
	limits *Limits // guarded by mu
	// Guarded by mu.
	inFlight int         // attempts holding a slot
	rate     rate.Bucket // DialConfig.Rate
	learned  rate.Bucket // DialConfig.Learned
	// freed is closed (and replaced) when a slot frees, to wake the
	// callers waiting for one. Never nil.
	freed chan struct{}

	// Counters for Stats.
	started     atomic.Uint64 // attempts that took a slot
	refused     atomic.Uint64 // attempts refused for want of a slot or a token
	nonRoutable atomic.Uint64 // learned points dropped for their scope
	tableFull   atomic.Uint64 // learned points dropped: the known-points table was full
	acksIgnored atomic.Uint64 // Swap_acks that answered no request of ours
}

// newDialer makes the dialer for cfg (with defaults applied); the parts it
// uses are set by core.wire.
func newDialer(mu *poolMutex, cfg *Config, log *slog.Logger, done <-chan struct{}) *dialer {
	return &dialer{mu: mu, cfg: cfg, conf: cfg.Dial, log: log, done: done, freed: make(chan struct{})}
}

// dialAttempt is one outgoing attempt past requestPoint. Guarded by
// the pool lock.
type dialAttempt struct {
	// admitted is set once admit has looked at the attempt: from then on
	// it counts as a handshake past admission (or has been refused), no
	// longer among the dials in flight (registry.dialing).
	admitted bool
}

// addrScope is how far an address reaches, for the rule on learned
// points: a peer may make the pool dial a point of the global scope, or
// of its own scope, never a narrower one (a peer on the Internet naming
// 127.0.0.1, 192.168.1.1 or 169.254.169.254 would turn the pool into a
// port scanner of its host and network).
type addrScope uint8

const (
	scopeGlobal    addrScope = iota // publicly routable
	scopePrivate                    // RFC 1918, RFC 6598 shared, fc00::/7 ULA, fec0::/10
	scopeLinkLocal                  // 169.254/16, fe80::/10
	scopeLoopback                   // 127/8, ::1
	scopeNone                       // unspecified, multicast, broadcast, reserved: never dialled
)

var (
	sharedPrefix    = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
	thisNetPrefix   = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122 "this network"
	reservedPrefix  = netip.MustParsePrefix("240.0.0.0/4")   // RFC 1112, broadcast included
	siteLocalPrefix = netip.MustParsePrefix("fec0::/10")     // deprecated site-local
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052, embeds an IPv4 address
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")     // RFC 3056, embeds an IPv4 address
	compatPrefix    = netip.MustParsePrefix("::/96")         // IPv4-compatible, deprecated
	discardPrefix   = netip.MustParsePrefix("100::/64")      // RFC 6666
)

// scopeOf classifies a. IPv6 forms that embed an IPv4 address (mapped,
// NAT64, 6to4) take the scope of that address, so that ::ffff:127.0.0.1
// or 64:ff9b::a00:1 is no way around the rule.
func scopeOf(a netip.Addr) addrScope {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			return scopeOf(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFourPrefix.Contains(a):
			return scopeOf(netip.AddrFrom4([4]byte(b[2:6])))
		case a.IsLoopback():
			return scopeLoopback
		case compatPrefix.Contains(a), discardPrefix.Contains(a):
			return scopeNone
		case siteLocalPrefix.Contains(a):
			return scopePrivate
		}
	}
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast(), a.IsInterfaceLocalMulticast(),
		a.Is4() && (thisNetPrefix.Contains(a) || reservedPrefix.Contains(a)):
		return scopeNone
	case a.IsLoopback():
		return scopeLoopback
	case a.IsLinkLocalUnicast():
		return scopeLinkLocal
	case a.IsPrivate(), a.Is4() && sharedPrefix.Contains(a):
		return scopePrivate
	}
	return scopeGlobal
}

// Why the pool did not dial a point of its own accord; never returned by
// a method (swap failures carry them in EventSwapFailure).
var (
	errPointForgotten = errors.New("p2ppool: point no longer known")
	errNotDialable    = errors.New("p2ppool: learned point outside the scope its peer may name")
)

// tryLocked takes a slot and the tokens of an attempt at now (a
// learned point takes a token of the learned budget too), or nothing, and
// reports whether it did. d.mu must be held.
func (d *dialer) tryLocked(learned bool, now time.Time) bool {
	d.mu.assertHeld()
	if d.inFlight >= d.conf.MaxInFlight ||
		d.rate.Tokens(now, d.conf.Rate.Rate, d.conf.Rate.Burst) < 1 ||
		learned && d.learned.Tokens(now, d.conf.Learned.Rate, d.conf.Learned.Burst) < 1 {
		return false
	}
	d.conf.Rate.allow(&d.rate, now)
	if learned {
		d.conf.Learned.allow(&d.learned, now)
	}
	d.inFlight++
	d.started.Add(1)
	return true
}

// take waits until point may be dialled and the limiter has a slot
// and the tokens for it (a token of the learned budget too for a learned
// point the pool dials of its own accord), then takes them and marks the
// point requested, in one critical section: a point that has gone or
// become busy meanwhile spends nothing. It fails with the error of the
// checks before dialling (requestableLocked), at once, or with ctx's
// cause, or ErrPoolClosed.
func (d *dialer) take(ctx context.Context, point netip.AddrPort, user bool) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		d.mu.Lock()
		if d.reg.closed {
			d.mu.Unlock()
			return ErrPoolClosed
		}
		pi, err := d.requestableLocked(point, user)
		if err != nil {
			d.mu.Unlock()
			return err
		}
		learned := !user && pi.Learned
		if d.tryLocked(learned, now) {
			d.markRequestedLocked(pi, now)
			d.mu.Unlock()
			return nil
		}
		freed := d.freed
		var wait time.Duration
		if d.inFlight < d.conf.MaxInFlight {
			// Short of tokens: wait until both buckets hold one.
			wait = d.rate.Delay(now, d.conf.Rate.Rate, d.conf.Rate.Burst)
			if learned {
				wait = max(wait, d.learned.Delay(now, d.conf.Learned.Rate, d.conf.Learned.Burst))
			}
		}
		d.mu.Unlock()
		var tick <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tick = timer.C
		}
		select {
		case <-freed:
		case <-tick:
		case <-d.done:
			return ErrPoolClosed
		case <-ctx.Done():
			return fmt.Errorf("connect %v: waiting for a dial slot: %w", point, context.Cause(ctx))
		}
	}
}

// tryTakeLocked is takeDial without the wait, for the pool's own
// dials that must not wait (swaps): it reports whether it took a slot and
// marked point requested. d.mu must be held.
func (d *dialer) tryTakeLocked(point netip.AddrPort, now time.Time) bool {
	d.mu.assertHeld()
	pi, err := d.requestableLocked(point, false)
	if err != nil {
		return false
	}
	if !d.tryLocked(pi.Learned, now) {
		d.refuse(point, "no slot or token")
		return false
	}
	d.markRequestedLocked(pi, now)
	return true
}

// releaseLocked gives an attempt's slot back. d.mu must be held.
func (d *dialer) releaseLocked() {
	d.mu.assertHeld()
	d.inFlight--
	close(d.freed)
	d.freed = make(chan struct{})
}

// refuse counts an attempt the limiter refused.
func (d *dialer) refuse(point netip.AddrPort, why string) {
	d.refused.Add(1)
	d.log.Debug("dial not made", "point", point, "why", why)
}

// requestableLocked runs octez's checks before dialling, in octez's
// order, and returns the point's record. A point the application gives
// (user) is registered if need be and is no longer a learned one; the pool
// dials of its own accord only points it knows, and learned ones only if
// the scope rule allows. d.mu must be held.
func (d *dialer) requestableLocked(point netip.AddrPort, user bool) (*pointInfo, error) {
	d.mu.assertHeld()
	if d.acl.bannedAddr(point.Addr()) {
		return nil, ErrPointBanned
	}
	// Dials in flight hold a connection slot, as handshakes past
	// admission do: a burst of dials cannot overshoot the limit.
	if d.reg.slotsLocked() >= d.limits.MaxConnections {
		return nil, ErrTooManyConnections
	}
	var pi *pointInfo
	if user {
		pi = d.tab.registerPointLocked(point)
		pi.Learned = false
	} else if pi = d.tab.points[point]; pi == nil {
		return nil, errPointForgotten
	} else if !d.dialableLocked(pi) {
		return nil, errNotDialable
	}
	if d.cfg.Network.ClosedNetwork && !pi.Trusted {
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
// dials in flight. d.mu must be held.
func (d *dialer) markRequestedLocked(pi *pointInfo, now time.Time) {
	d.mu.assertHeld()
	pi.setRequested(now)
	d.reg.dialing++
	d.events.publish(Event{Kind: EventOutgoingConnection, Point: pi.Point})
}

// abandon undoes takeDial for an attempt that never dialled: the
// point goes back to disconnected with no back-off (it did nothing), and
// the slot is given back.
func (d *dialer) abandon(point netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.abandonLocked(point)
}

// abandonLocked is abandonDial with d.mu held.
func (d *dialer) abandonLocked(point netip.AddrPort) {
	d.mu.assertHeld()
	d.reg.dialing--
	if pi := d.tab.points[point]; pi != nil && pi.State == PointRequested {
		pi.State = PointDisconnected
	}
	d.releaseLocked()
}

// end ends an attempt: it leaves the dials in flight, if admit has
// not taken it out already, and gives its slot back.
func (d *dialer) end(at *dialAttempt) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !at.admitted {
		d.reg.dialing--
	}
	d.releaseLocked()
}

// pointFailed returns a requested or accepted point to disconnected after a
// failed attempt, with octez's back-off. octez leaves the point requested
// forever when the peer turns out banned or unexpected (spec §12 quirk 1);
// here it can be retried once the back-off allows.
func (d *dialer) pointFailed(point netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if pi := d.tab.points[point]; pi != nil && (pi.State == PointRequested || pi.State == PointAccepted) {
		pi.setDisconnected(&d.cfg.Reconnection, time.Now())
	}
}

// learnable reports whether a point at addr that a peer at from named may
// be learned and dialled.
func (d *dialer) learnable(addr, from netip.Addr) bool {
	s := scopeOf(addr)
	switch {
	case s == scopeNone:
		return false
	case s == scopeGlobal, d.conf.AllowNonRoutable:
		return true
	}
	return s == scopeOf(from)
}

// dialableLocked reports whether the pool may dial pi of its own accord
// (maintenance, swaps): a learned point must still pass the scope rule
// for the peer that named it. d.mu must be held.
func (d *dialer) dialableLocked(pi *pointInfo) bool {
	d.mu.assertHeld()
	if !pi.Learned || d.conf.AllowNonRoutable {
		return true
	}
	s := scopeOf(pi.Point.Addr())
	return s == scopeGlobal || s != scopeNone && s == pi.namer
}
