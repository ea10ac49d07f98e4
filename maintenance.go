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

// maintenanceEnabled: Config.Maintenance.IdleTime is not Disabled.
func (p *core) maintenanceEnabled() bool {
	return p.cfg.Maintenance.IdleTime > 0
}

// wakeMaintenance asks for a maintenance run; it never blocks.
func (p *core) wakeMaintenance() {
	select {
	case p.maintainReq <- struct{}{}:
	default:
	}
}

// maintainNow is Pool.Maintain.
func (p *core) maintainNow(ctx context.Context) error {
	if p.isClosed() {
		return ErrPoolClosed
	}
	if !p.maintenanceEnabled() {
		return ErrMaintenanceDisabled
	}
	if g, ok := p.gs.self(); ok && (g.conn != nil || g.maint) {
		// A callback on a connection's goroutine or the maintenance's:
		// the run would wait for this goroutine (a dial, a dropped
		// connection's teardown). Ask for it, do not wait.
		p.wakeMaintenance()
		return ErrReentrant
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	// The run in progress, if any, may have looked at the tables before
	// this call: wait for the next one.
	target := p.maintainRuns + 1
	if p.maintaining {
		target++
	}
	p.mu.Unlock()
	p.wakeMaintenance()
	for {
		p.mu.Lock()
		done, runs := p.maintainDone, p.maintainRuns
		p.mu.Unlock()
		if runs >= target {
			return nil
		}
		select {
		case <-done:
		case <-p.done:
			return ErrPoolClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maintenance is the maintenance worker (octez P2p_maintenance): a run
// at start, then one whenever the idle time passes, Maintain is called, or
// the count crosses min or max connections.
func (p *core) maintenance() {
	idle := time.NewTimer(0) // first run at once
	defer idle.Stop()
	for {
		select {
		case <-idle.C:
		case <-p.maintainReq:
		case <-p.ctx.Done():
			return
		}
		p.mu.Lock()
		p.maintaining = true
		p.mu.Unlock()
		p.maintain()
		p.mu.Lock()
		p.maintaining = false
		p.maintainRuns++
		close(p.maintainDone)
		p.maintainDone = make(chan struct{})
		p.mu.Unlock()
		idle.Reset(p.cfg.Maintenance.IdleTime)
	}
}

// maintain is one maintenance run: bring the count back in range, or,
// when it is in range, ask for a swap (octez maintain).
func (p *core) maintain() {
	swapped := false
	for p.ctx.Err() == nil {
		p.mu.Lock() // the limits may change at run time (SetLimits)
		b, n := boundsOf(&p.limits), len(p.conns)
		p.mu.Unlock()
		p.publish(Event{Kind: EventMaintenanceStarted})
		switch {
		case n < b.minThreshold:
			p.publish(Event{Kind: EventTooFewConnections})
			if !p.tryToContact(b.minTarget-n, b.maxTarget-n) {
				p.askForMoreContacts()
			}
		case n > b.maxThreshold:
			p.publish(Event{Kind: EventTooManyConnections})
			p.dropConnections(n - b.maxTarget)
		default:
			if !swapped && !p.cfg.Network.ClosedNetwork {
				p.sendSwapRequest()
			}
			p.publish(Event{Kind: EventMaintenanceEnded})
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
func (p *core) tryToContact(wantMin, wantMax int) bool {
	start := time.Now()
	seen := make(map[netip.AddrPort]bool)
	for wantMin > 0 && p.ctx.Err() == nil {
		p.mu.Lock()
		type cand struct {
			pt   netip.AddrPort
			miss time.Time
		}
		var cands []cand
		for pt, pi := range p.points {
			if seen[pt] || p.acl.bannedAddr(pt.Addr()) || p.cfg.Network.ClosedNetwork && !pi.Trusted {
				continue
			}
			seen[pt] = true
			if pi.State != PointDisconnected {
				continue
			}
			miss := pi.LastMiss()
			if miss.After(start) || !pi.CanReconnect(start) || !p.dialableLocked(pi) {
				continue
			}
			cands = append(cands, cand{pt, miss})
		}
		p.mu.Unlock()
		if len(cands) == 0 {
			return false
		}
		slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.miss.UnixNano(), b.miss.UnixNano()) })
		cands = cands[:min(len(cands), wantMax)]
		var wg sync.WaitGroup
		var mu sync.Mutex
		established := 0
		for _, c := range cands {
			if err := p.takeDial(p.ctx, c.pt, false); err != nil {
				if errors.Is(err, ErrPoolClosed) || errors.Is(err, ErrTooManyConnections) || p.ctx.Err() != nil {
					break
				}
				continue // gone, busy or banned since the list was made
			}
			wg.Go(func() {
				// The run waits for it: a Maintain from its callbacks must
				// not wait for the run.
				defer p.track(poolGoroutine{maint: true})()
				// A random pause of up to 50 ms before each dial: two
				// nodes that dial each other at the same instant both
				// refuse the other's connection (already connected), and
				// with octez's deterministic back-off they would meet
				// again at every retry.
				select {
				case <-time.After(rand.N(50 * time.Millisecond)):
				case <-p.ctx.Done():
					p.abandonDial(c.pt)
					return
				}
				if _, err := p.attempt(p.ctx, c.pt); err == nil {
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
func (p *core) askForMoreContacts() {
	w := p.events.watch(p.ctx, 64)
	defer w.Close()
	if !p.cfg.Network.ClosedNetwork {
		p.broadcastBootstrap()
	}
	ctx, cancel := context.WithTimeout(p.ctx, timeBetweenLookingForPeers)
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
func (p *core) dropConnections(k int) {
	p.mu.Lock()
	var cands []*conn
	for _, c := range p.conns {
		pe := p.peers[c.info.Peer]
		pt := p.points[c.info.Point]
		trusted := pe != nil && pe.Trusted || pt != nil && pt.Trusted
		if !trusted {
			cands = append(cands, c)
		}
	}
	p.mu.Unlock()
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	cands = cands[:min(k, len(cands))]
	for _, c := range cands {
		c.end(&DisconnectError{Reason: ReasonMaintenance}, false)
	}
	for _, c := range cands {
		select {
		case <-c.done:
		case <-p.ctx.Done():
			return
		}
	}
}
