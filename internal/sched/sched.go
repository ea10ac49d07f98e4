package sched

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPeriod is the statistics refresh interval: octez's moving-average
// refresh_interval, which is also its quota period.
const DefaultPeriod = time.Second

// DefaultQuantum is the most a limited connection moves per underlying Read
// or Write: octez's default read_buffer_size, the size of one scheduled
// read.
const DefaultQuantum = 16 << 10

// BurstWindow is how much traffic, in time at the limit's rate, a bucket
// holds when full: what may go out at once after an idle spell. Octez
// allows a whole second; a tenth keeps the traffic smooth at the same
// long-run rate.
const BurstWindow = 100 * time.Millisecond

// ErrInvalidConfig reports a negative limit, period or quantum.
var ErrInvalidConfig = errors.New("sched: invalid configuration")

// Limits are the bandwidth limits, in bytes per second, 0 meaning
// unlimited. Octez's max-download-speed and max-upload-speed (KiB/s in the
// node's configuration, multiplied by 1024) are MaxInflow and MaxOutflow.
type Limits struct {
	// MaxInflow and MaxOutflow cap the sum of all connections' reads and
	// writes.
	MaxInflow, MaxOutflow int64
	// ConnMaxInflow and ConnMaxOutflow cap each connection's reads and
	// writes (octez has no such limit).
	ConnMaxInflow, ConnMaxOutflow int64
}

func (l Limits) validate() error {
	if l.MaxInflow < 0 || l.MaxOutflow < 0 || l.ConnMaxInflow < 0 || l.ConnMaxOutflow < 0 {
		return fmt.Errorf("%w: negative limit in %+v", ErrInvalidConfig, l)
	}
	return nil
}

// of returns the global and per-connection limits of direction d.
func (l Limits) of(d int) (global, perConn int64) {
	if d == in {
		return l.MaxInflow, l.ConnMaxInflow
	}
	return l.MaxOutflow, l.ConnMaxOutflow
}

// Config configures a Scheduler. The zero value means no limit and the
// default period and quantum.
type Config struct {
	// Limits are the initial limits; SetLimits changes them.
	Limits
	// Period is the moving averages' refresh interval; 0 means
	// DefaultPeriod.
	Period time.Duration
	// Quantum is the most a connection moves per underlying Read or Write
	// while its direction is limited; 0 means DefaultQuantum. Smaller
	// chunks interleave the connections more finely at the cost of more
	// syscalls.
	Quantum int
	// NoTicker: New starts no goroutine, and the owner calls Tick every
	// Period instead (the pool's housekeeping goroutine does: one
	// goroutine fewer per pool).
	NoTicker bool
}

// Stat is a traffic summary (octez P2p_stat.t): bytes sent and received
// since the start and the current flows, in bytes per second, as moving
// averages refreshed every period. Bytes are counted at the net.Conn level,
// so for an encrypted connection they are the wire bytes.
type Stat struct {
	// TotalSent and TotalRecv are the bytes written and read.
	TotalSent, TotalRecv int64
	// CurrentInflow and CurrentOutflow are the read and write rates, in
	// bytes per second, as of the last refresh.
	CurrentInflow, CurrentOutflow int
}

// Directions, as indexes of the per-direction arrays.
const (
	in  = 0 // inflow: reads
	out = 1 // outflow: writes
)

// Scheduler shares bandwidth between the connections it wraps and keeps
// their statistics. See the package documentation for the design. All
// methods are safe for concurrent use.
type Scheduler struct {
	lim     [2]limiter
	quantum int
	period  time.Duration

	// mu guards the registry and the statistics bookkeeping below; it is
	// taken before a limiter's mutex, never after.
	mu     sync.Mutex
	conns  map[*Conn]struct{}
	limits Limits
	// closedTotal sums the totals of the connections unregistered so far;
	// pending is the part of it the global moving average has not yet
	// seen.
	closedTotal [2]int64
	pending     [2]int64
	avg         [2]atomic.Int64
	// prev is when the averages were last refreshed.
	prev time.Time

	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Scheduler and starts its statistics ticker; Close stops it.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Limits.validate(); err != nil {
		return nil, err
	}
	if cfg.Period < 0 || cfg.Quantum < 0 {
		return nil, fmt.Errorf("%w: period %v, quantum %d", ErrInvalidConfig, cfg.Period, cfg.Quantum)
	}
	s := &Scheduler{
		quantum: cfg.Quantum,
		period:  cfg.Period,
		conns:   make(map[*Conn]struct{}),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if s.quantum == 0 {
		s.quantum = DefaultQuantum
	}
	if s.period == 0 {
		s.period = DefaultPeriod
	}
	s.applyLimits(cfg.Limits)
	s.prev = time.Now()
	if cfg.NoTicker {
		close(s.done)
	} else {
		go s.run()
	}
	return s, nil
}

// Period is the moving averages' refresh interval: how often the owner
// of a scheduler made with NoTicker calls Tick.
func (s *Scheduler) Period() time.Duration { return s.period }

// Close stops the statistics ticker and waits for it to exit; current
// flows stop being refreshed. It stops the limiters' timers too, waiting
// for a call under way, so that nothing of the scheduler's runs once it
// returns. It does not close the connections, whose limits keep being
// enforced (they do not depend on the ticker, unlike octez's, which stall
// once its moving-average worker is gone; a limiter waited on after Close
// arms a new timer). Close is idempotent.
func (s *Scheduler) Close() {
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.done
	for i := range s.lim {
		s.lim[i].closeTimer()
	}
}

// Wrap registers nc with the scheduler and returns it wrapped. Close the
// wrapper, not nc, so that the connection is unregistered; its bytes stay
// in the scheduler's totals.
func (s *Scheduler) Wrap(nc net.Conn) *Conn {
	c := &Conn{nc: nc, s: s}
	for d := range c.flows {
		c.flows[d].init()
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// Limits returns the current limits.
func (s *Scheduler) Limits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// SetLimits replaces the limits. It takes effect at once: traffic up to
// now is accounted at the old rates, and every waiting Read or Write
// re-examines its wait, so a raised or removed limit releases waiters
// immediately.
func (s *Scheduler) SetLimits(l Limits) error {
	if err := l.validate(); err != nil {
		return err
	}
	s.applyLimits(l)
	return nil
}

func (s *Scheduler) applyLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	now := time.Now()
	for d := range s.lim {
		global, perConn := l.of(d)
		lim := &s.lim[d]
		lim.mu.Lock()
		lim.setGlobal(float64(global), now)
		for c := range s.conns {
			lim.settleConn(&c.flows[d], now)
		}
		lim.setConn(float64(perConn))
		lim.setChunk(s.quantum)
		lim.limited.Store(global > 0 || perConn > 0)
		lim.dispatch(now)
		lim.mu.Unlock()
		// Connections sleeping on their own bucket recompute their wait.
		for c := range s.conns {
			c.flows[d].poke()
		}
	}
}

// unregister removes c, folding its totals into the scheduler's.
func (s *Scheduler) unregister(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.foldLocked(c)
}

// fold adds to the scheduler's totals the bytes a closed connection moved
// since it was last folded: an IO in flight when Close ran ends later.
func (s *Scheduler) fold(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := s.conns[c]; !live { // else unregister, under way, folds
		s.foldLocked(c)
	}
}

func (s *Scheduler) foldLocked(c *Conn) {
	for d := range c.flows {
		f := &c.flows[d]
		cur := f.total.Load()
		s.closedTotal[d] += cur - f.folded
		s.pending[d] += cur - f.last
		f.folded, f.last = cur, cur
	}
}

// Stat returns the traffic of all the connections, closed ones included
// (octez global_stat).
func (s *Scheduler) Stat() Stat {
	s.mu.Lock()
	totals := s.closedTotal
	for c := range s.conns {
		for d := range c.flows {
			totals[d] += c.flows[d].total.Load()
		}
	}
	s.mu.Unlock()
	return Stat{
		TotalRecv:      totals[in],
		TotalSent:      totals[out],
		CurrentInflow:  int(s.avg[in].Load()),
		CurrentOutflow: int(s.avg[out].Load()),
	}
}

// run is the ticker goroutine: one for the whole scheduler, however many
// connections, as octez's single Moving_average worker.
func (s *Scheduler) run() {
	defer close(s.done)
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.Tick(time.Now())
		}
	}
}

// Tick refreshes every moving average with the bytes moved since the
// last refresh; now is the current time. Octez measures the elapsed
// time rather than trusting the period: a late tick must not inflate the
// rate.
func (s *Scheduler) Tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsedMs := max(now.Sub(s.prev).Milliseconds(), 1)
	s.prev = now
	var sum [2]int64
	for c := range s.conns {
		for d := range c.flows {
			f := &c.flows[d]
			cur := f.total.Load()
			delta := cur - f.last
			f.last = cur
			f.avg.Store(movingAverage(f.avg.Load(), delta, elapsedMs))
			sum[d] += delta
		}
	}
	for d := range sum {
		sum[d] += s.pending[d]
		s.pending[d] = 0
		s.avg[d].Store(movingAverage(s.avg[d].Load(), sum[d], elapsedMs))
	}
}

// alpha is octez's moving-average weight, 0.2, in per mille.
const alpha = 200

// movingAverage is one step of octez's Moving_average worker, integer
// arithmetic included: the new average in bytes/s after bytes were moved
// in elapsedMs milliseconds.
func movingAverage(avg, bytes, elapsedMs int64) int64 {
	return alpha*bytes/elapsedMs + (1000-alpha)*avg/1000
}
