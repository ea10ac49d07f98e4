package p2ppool

import (
	"time"

	"github.com/p2ppool/p2ppool/internal/greylist"
)

// housekeeping is the pool's periodic work: it ages the address greylist
// (octez's countdown every cleanup delay / 16), refreshes the traffic
// statistics every second (octez's Moving_average worker) and saves the
// peers file every PeersFile.SavePeriod. It runs on a poolTimer set for
// the first task due, so that between tasks it costs no goroutine.
type housekeeping struct {
	timer *poolTimer
	// When each task is next due; a zero save: no periodic save. Each
	// call of the timer arms the next, so one call at a time reads and
	// writes them, ordered by the pool lock that arms the timer.
	countdown, stats, save time.Time
	// The tasks' periods, immutable after startLocked.
	countdownPeriod, statsPeriod, savePeriod time.Duration
}

// startLocked sets the tasks' first times from now and arms the timer.
// The pool lock must be held.
func (h *housekeeping) startLocked(p *core, now time.Time) {
	h.countdownPeriod = greylist.CountdownPeriod(p.cfg.Greylist.Timeout)
	h.statsPeriod = p.sched.Period()
	h.countdown, h.stats = now.Add(h.countdownPeriod), now.Add(h.statsPeriod)
	if p.cfg.PeersFile.Path != "" && p.cfg.PeersFile.SavePeriod > 0 {
		h.savePeriod = p.cfg.PeersFile.SavePeriod
		h.save = now.Add(h.savePeriod)
	}
	h.timer = p.life.newTimer(poolGoroutine{}, p.housekeep)
	h.armLocked(now)
}

// armLocked sets the timer for the first task due. The pool lock must be
// held.
func (h *housekeeping) armLocked(now time.Time) {
	next := h.countdown
	if h.stats.Before(next) {
		next = h.stats
	}
	if !h.save.IsZero() && h.save.Before(next) {
		next = h.save
	}
	h.timer.resetLocked(next.Sub(now))
}

// housekeep is the timer's call: the tasks due, then the timer for the
// next.
func (p *core) housekeep() {
	h := &p.hk
	now := time.Now()
	if !now.Before(h.countdown) {
		p.acl.countdownNow()
		h.countdown = nextDue(h.countdown, h.countdownPeriod, now)
	}
	if !now.Before(h.stats) {
		p.sched.Tick(now)
		h.stats = nextDue(h.stats, h.statsPeriod, now)
	}
	if !h.save.IsZero() && !now.Before(h.save) {
		if err := p.peersFile.save(); err != nil {
			p.log.Error("periodic save of the peers file failed", "err", err)
		}
		h.save = nextDue(h.save, h.savePeriod, time.Now())
	}
	p.mu.Lock()
	if !p.life.isClosed() {
		h.armLocked(time.Now())
	}
	p.mu.Unlock()
}

// nextDue is when a task of period d, last due at due, is next due after
// now: as with a time.Ticker, the times missed are dropped.
func nextDue(due time.Time, d time.Duration, now time.Time) time.Time {
	if due = due.Add(d); due.After(now) {
		return due
	}
	return now.Add(d)
}
