package p2ppool

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// timeBetweenLookingForPeers is how long the maintenance waits for new
// points after asking its peers for some (octez, hard-coded).
const timeBetweenLookingForPeers = 5 * time.Second

// bounds are octez's maintenance thresholds and targets, derived from
// min/expected/max connections (P2p_maintenance): the maintenance acts
// when the count leaves [minThreshold, maxThreshold] and brings it back
// to [minTarget, maxTarget]. Defaults 10/50/100 give 23/36/68/84.
type bounds struct {
	minThreshold, minTarget, maxTarget, maxThreshold int
}

func boundsOf(cfg *Limits) bounds {
	stepMin := (cfg.ExpectedConnections - cfg.MinConnections) / 3
	stepMax := (cfg.MaxConnections - cfg.ExpectedConnections) / 3
	return bounds{
		minThreshold: cfg.MinConnections + stepMin,
		minTarget:    cfg.MinConnections + 2*stepMin,
		maxTarget:    cfg.MaxConnections - 2*stepMax,
		maxThreshold: cfg.MaxConnections - stepMax,
	}
}

// maintains reports whether cfg runs the maintenance:
// Config.Maintenance.IdleTime is not Disabled.
func maintains(cfg *Config) bool {
	return cfg.Maintenance.IdleTime > 0
}

// maintainer is the maintenance worker (octez P2p_maintenance): a run
// reads the tables and the registry under the pool lock and dials and
// drops connections outside it. Runs are made on a goroutine of their own,
// started when one is asked for and gone when none is: between runs the
// idle timer waits, and the maintenance costs no goroutine. Its state is
// guarded by the pool lock (locks.go), as Pool.Maintain reads the run
// counters against the registry's closed flag.
type maintainer struct {
	// Immutable after core.wire.
	mu     *poolMutex
	cfg    *Config
	limits *Limits // guarded by mu
	life   *lifecycle
	tab    *tables
	reg    *registry
	dial   *dialer
	acl    *acl
	events *eventHub
	swaps  *swapper
	// attempt dials a point the dialer gave a slot to (core.attempt);
	// bootstrap asks every peer for points (core.broadcastBootstrap).
	attempt   func(ctx context.Context, point netip.AddrPort) (*conn, error)
	bootstrap func()
	// idle starts a run once the idle time has passed since the last
	// (made by startLocked).
	idle *poolTimer

	// Guarded by mu: maintenance runs completed, whether one is running,
	// whether another was asked for meanwhile, and a channel closed (and
	// replaced) at the end of each run.
	runs    int
	running bool
	again   bool
	runDone chan struct{}
}

func newMaintainer(mu *poolMutex, cfg *Config, limits *Limits) *maintainer {
	return &maintainer{mu: mu, cfg: cfg, limits: limits, runDone: make(chan struct{})}
}

// startLocked starts the maintenance with a run at once, as octez's does.
// The pool lock must be held.
func (m *maintainer) startLocked() {
	m.idle = m.life.newTimer(poolGoroutine{maint: true}, m.onIdle)
	m.wakeLocked()
}

// wakeLocked asks for a maintenance run; it never blocks. A run starts
// now if none is running, else once the running one ends. The pool lock
// must be held.
func (m *maintainer) wakeLocked() {
	m.mu.assertHeld()
	if m.life.isClosed() {
		return
	}
	if m.running {
		m.again = true
		return
	}
	m.running = true
	// The idle time counts again from the end of this run. Should the
	// timer's call have begun already, it finds this run going and asks
	// for one more, as a wake would.
	m.idle.cancelLocked()
	m.life.goLocked(poolGoroutine{maint: true}, m.run)
}

// wake is wakeLocked for a caller without the pool lock.
func (m *maintainer) wake() {
	m.mu.Lock()
	m.wakeLocked()
	m.mu.Unlock()
}

// onIdle is the idle timer's call: the runs, on the timer's goroutine.
func (m *maintainer) onIdle() {
	m.mu.Lock()
	if m.running {
		m.again = true
		m.mu.Unlock()
		return
	}
	m.running = true
	m.mu.Unlock()
	m.run()
}

// run makes maintenance runs until none more is asked for, then arms the
// idle timer and returns. The caller set m.running.
func (m *maintainer) run() {
	for {
		m.maintain()
		m.mu.Lock()
		m.runs++
		close(m.runDone)
		m.runDone = make(chan struct{})
		closed := m.life.isClosed()
		if m.again && !closed {
			m.again = false
			m.mu.Unlock()
			continue
		}
		m.running, m.again = false, false
		if !closed {
			m.idle.resetLocked(m.cfg.Maintenance.IdleTime)
		}
		m.mu.Unlock()
		return
	}
}

// now is Pool.Maintain.
func (m *maintainer) now(ctx context.Context) error {
	if m.life.isClosed() {
		return ErrPoolClosed
	}
	if !maintains(m.cfg) {
		return ErrMaintenanceDisabled
	}
	if g, ok := m.life.gs.self(); ok && (g.conn != nil || g.maint) {
		// A callback on a connection's goroutine or the maintenance's:
		// the run would wait for this goroutine (a dial, a dropped
		// connection's teardown). Ask for it, do not wait.
		m.wake()
		return ErrReentrant
	}
	m.mu.Lock()
	if m.reg.closed {
		m.mu.Unlock()
		return ErrPoolClosed
	}
	// The run in progress, if any, may have looked at the tables before
	// this call: wait for the next one.
	target := m.runs + 1
	if m.running {
		target++
	}
	m.wakeLocked()
	m.mu.Unlock()
	for {
		m.mu.Lock()
		done, runs := m.runDone, m.runs
		m.mu.Unlock()
		if runs >= target {
			return nil
		}
		select {
		case <-done:
		case <-m.life.done:
			return ErrPoolClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maintain is one maintenance run: bring the count back in range, or,
// when it is in range, ask for a swap (octez maintain).
func (m *maintainer) maintain() {
	swapped := false
	for m.life.ctx.Err() == nil {
		m.mu.Lock() // the limits may change at run time (SetLimits)
		b, n := boundsOf(m.limits), len(m.reg.conns)
		m.mu.Unlock()
		m.events.publish(Event{Kind: EventMaintenanceStarted})
		switch {
		case n < b.minThreshold:
			m.events.publish(Event{Kind: EventTooFewConnections})
			if !m.tryToContact(b.minTarget-n, b.maxTarget-n) {
				m.askForMoreContacts()
			}
		case n > b.maxThreshold:
			m.events.publish(Event{Kind: EventTooManyConnections})
			m.dropConnections(n - b.maxTarget)
		default:
			if !swapped && !m.cfg.Network.ClosedNetwork {
				m.swaps.sendRequest()
			}
			m.events.publish(Event{Kind: EventMaintenanceEnded})
			return
		}
		swapped = true
	}
}

// tryToContact dials known points until min connections are added or no
// candidate is left, at most max at a time (octez try_to_contact): points
// that are disconnected, not banned, past their back-off and not missed
// since this run began; never-missed ones first, then the longest missed.
// Each dial waits here, in the maintenance goroutine, for a slot of the
// dial limiter (and a token of the learned budget for a learned point)
// before its goroutine starts: the dials running are at most
// Config.Dial.MaxInFlight, and no goroutine waits for the limiter.
func (m *maintainer) tryToContact(wantMin, wantMax int) bool {
	start := time.Now()
	seen := make(map[netip.AddrPort]bool)
	for wantMin > 0 && m.life.ctx.Err() == nil {
		m.mu.Lock()
		type cand struct {
			pt   netip.AddrPort
			miss time.Time
		}
		var cands []cand
		for pt, pi := range m.tab.points {
			if seen[pt] || m.acl.bannedAddr(pt.Addr()) || m.cfg.Network.ClosedNetwork && !pi.Trusted {
				continue
			}
			seen[pt] = true
			if pi.State != PointDisconnected {
				continue
			}
			miss := pi.LastMiss()
			if miss.After(start) || !pi.CanReconnect(start) || !m.dial.dialableLocked(pi) {
				continue
			}
			cands = append(cands, cand{pt, miss})
		}
		m.mu.Unlock()
		if len(cands) == 0 {
			return false
		}
		slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.miss.UnixNano(), b.miss.UnixNano()) })
		cands = cands[:min(len(cands), wantMax)]
		var wg sync.WaitGroup
		var mu sync.Mutex
		established := 0
		for _, c := range cands {
			if err := m.dial.take(m.life.ctx, c.pt, false); err != nil {
				if errors.Is(err, ErrPoolClosed) || errors.Is(err, ErrTooManyConnections) || m.life.ctx.Err() != nil {
					break
				}
				continue // gone, busy or banned since the list was made
			}
			wg.Go(func() {
				// The run waits for it: a Maintain from its callbacks must
				// not wait for the run.
				defer m.life.track(poolGoroutine{maint: true}).untrack()
				// A random pause of up to 50 ms before each dial: two
				// nodes that dial each other at the same instant both
				// refuse the other's connection (already connected), and
				// with octez's deterministic back-off they would meet
				// again at every retry.
				select {
				case <-time.After(rand.N(50 * time.Millisecond)):
				case <-m.life.ctx.Done():
					m.dial.abandon(c.pt)
					return
				}
				if _, err := m.attempt(m.life.ctx, c.pt); err == nil {
					mu.Lock()
					established++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		wantMin -= established
		wantMax -= established
	}
	return wantMin <= 0
}

// askForMoreContacts asks every peer for points and waits for a new point
// or peer, or 5 s (octez ask_for_more_contacts).
func (m *maintainer) askForMoreContacts() {
	w := m.events.watch(m.life.ctx, 64)
	defer w.Close()
	if !m.cfg.Network.ClosedNetwork {
		m.bootstrap()
	}
	ctx, cancel := context.WithTimeout(m.life.ctx, timeBetweenLookingForPeers)
	defer cancel()
	for {
		e, err := w.Next(ctx)
		if err != nil || e.Kind == EventNewPoint || e.Kind == EventNewPeer || e.Kind == EventsDropped {
			return
		}
	}
}

// dropConnections ends k random connections, sparing trusted peers and
// points. octez only spares peers that are both private and trusted; an
// operator who trusts a peer expects the pool to keep it, so every
// trusted one is spared here.
func (m *maintainer) dropConnections(k int) {
	m.mu.Lock()
	var cands []*conn
	for _, c := range m.reg.conns {
		pe := m.tab.peers[c.info.Peer]
		pt := m.tab.points[c.info.Point]
		trusted := pe != nil && pe.Trusted || pt != nil && pt.Trusted
		if !trusted {
			cands = append(cands, c)
		}
	}
	m.mu.Unlock()
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	cands = cands[:min(k, len(cands))]
	for _, c := range cands {
		c.end(&DisconnectError{Reason: ReasonMaintenance}, false)
	}
	for _, c := range cands {
		select {
		case <-c.done:
		case <-m.life.ctx.Done():
			return
		}
	}
}
