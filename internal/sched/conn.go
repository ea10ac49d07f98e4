package sched

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// flow is one direction of one connection.
type flow struct {
	// avg is the moving average, written by the ticker; last is total at
	// the previous tick, folded the part of total already in the
	// scheduler's closedTotal. Both are guarded by Scheduler.mu.
	avg          atomic.Int64
	last, folded int64

	// deadline is the direction's deadline in Unix nanoseconds, 0 for
	// none; changing it pokes the flow.
	deadline atomic.Int64
	// ch holds the channels of a limited Read (or Write), made by its
	// first one (waitChans): most connections of a scheduler without
	// limits never wait, and at 10,000 nodes the five channels of each
	// connection end made up 40% of the wrapper's heap.
	ch atomic.Pointer[flowChans]

	// opMu serialises the limited Reads (or Writes), which share the
	// fields below; net.Conn allows concurrent calls.
	opMu  sync.Mutex
	debt  int // inflow: bytes read but not yet paid for
	timer *time.Timer

	// Guarded by the direction's limiter mutex: the connection's own
	// bucket, and its request in the global queue.
	tokens        float64
	refilled      time.Time // zero: not used yet, starts full
	start, finish int64     // SFQ tags
	seq           uint64
	n             int
	qidx          int // index in the queue, -1 when not queued

	// total is the byte count: the only thing the unlimited path writes.
	// It is the flow's last field, so that the fields before it keep it
	// off the cache lines of the connection's read-only fields, which both
	// directions read on every IO, and off the other direction's total
	// (Conn's layout), with no padding around each total (which cost 240
	// bytes per connection end; Conn keeps 64 after the last).
	total atomic.Int64
}

// flowChans are the channels a limited IO waits on.
type flowChans struct {
	// wake gets a token when the deadline or the limits change or the
	// connection closes, so that a waiting IO looks again.
	wake chan struct{}
	// ready gets the limiter's grant.
	ready chan struct{}
}

func (f *flow) init() {
	f.qidx = -1
}

// waitChans returns the flow's channels, made on first use. A limited IO
// calls it before it looks at the limits, the deadline or the closed
// flag: a change made after it is poked through these channels, and one
// whose poke found none yet is seen when the IO looks.
func (f *flow) waitChans() *flowChans {
	if w := f.ch.Load(); w != nil {
		return w
	}
	w := &flowChans{wake: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
	if f.ch.CompareAndSwap(nil, w) {
		return w
	}
	return f.ch.Load()
}

func (f *flow) refill(now time.Time, rate, burst float64) {
	if f.refilled.IsZero() {
		f.tokens, f.refilled = burst, now
		return
	}
	if el := now.Sub(f.refilled); el > 0 {
		f.tokens = min(burst, f.tokens+rate*el.Seconds())
		f.refilled = now
	}
}

// poke makes a waiting Read or Write look at its wait again.
func (f *flow) poke() {
	w := f.ch.Load()
	if w == nil {
		return // no IO has waited yet: the next one looks for itself
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// arm returns a channel receiving after d, reusing the flow's timer.
func (f *flow) arm(d time.Duration) <-chan time.Time {
	if f.timer == nil {
		f.timer = time.NewTimer(d)
	} else {
		f.timer.Reset(d)
	}
	return f.timer.C
}

func (f *flow) disarm() {
	if f.timer != nil {
		f.timer.Stop()
	}
}

func (f *flow) setDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	f.deadline.Store(ns)
	f.poke()
}

// Conn is a net.Conn registered with a Scheduler: its reads and writes are
// counted and, when the Scheduler has limits, paced. Its methods are safe
// for concurrent use; limited Reads (or Writes) are serialised.
type Conn struct {
	nc net.Conn
	s  *Scheduler
	// isClosed is set by Close before it unregisters the connection, so
	// that an IO ending after that folds its bytes into the scheduler's
	// totals itself, and before it pokes the flows, so that an IO waiting
	// for bandwidth sees it when woken.
	isClosed  atomic.Bool
	closeOnce sync.Once
	// stall, in nanoseconds, bounds each write to the wrapped connection
	// (SetWriteStallTimeout); 0 for none.
	stall atomic.Int64
	// After the fields above, which are read on every IO (see the
	// constants below).
	flows [2]flow
	// The last total, written on every write, is kept off the cache line
	// of whatever the allocator puts next: often the other end of the same
	// connection, whose read-only fields its reader reads on every read
	// (without this, 5-10% at 100 B in BenchmarkP2ppool/Throughput).
	_ [64]byte
}

// The flows' totals must not share a cache line with the fields before
// the flows, which both directions read on every IO, nor with each other,
// wherever the allocator puts the Conn: each total starts at least 63
// bytes after the last byte before it (and the trailing padding keeps
// the last one as far from the next object). Either constant below fails to
// build (a negative uintptr) if a change of the structs breaks that.
const (
	_ = unsafe.Offsetof(flow{}.total) - 63
	_ = unsafe.Sizeof(flow{}) - unsafe.Sizeof(atomic.Int64{}) - 63
)

var _ net.Conn = (*Conn)(nil)

// Read reads from the connection. When inflow is limited it reads at most
// one chunk (the scheduler's quantum, or less under a slow limit), having
// first waited until the bytes of the
// previous Read are paid for.
func (c *Conn) Read(p []byte) (int, error) {
	if c.s.lim[in].limited.Load() {
		return c.readLimited(p)
	}
	n, err := c.nc.Read(p)
	c.count(&c.flows[in], n)
	return n, err
}

func (c *Conn) readLimited(p []byte) (int, error) {
	f := &c.flows[in]
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.waitChans()
	if f.debt > 0 {
		if err := c.s.lim[in].acquire(c, f, f.debt); err != nil {
			return 0, err
		}
		f.debt = 0
	}
	if chunk := int(c.s.lim[in].chunk.Load()); len(p) > chunk {
		p = p[:chunk]
	}
	n, err := c.nc.Read(p)
	c.count(f, n)
	f.debt = n
	return n, err
}

// count adds n bytes to f. The closed check orders with Close's: either
// the bytes are in f.total before unregister reads it, or this sees the
// flag and folds them.
func (c *Conn) count(f *flow, n int) {
	f.total.Add(int64(n))
	if c.isClosed.Load() {
		c.s.fold(c)
	}
}

// Write writes p to the connection. When outflow is limited it writes p in
// chunks (of the scheduler's quantum, or less under a slow limit), each
// after waiting for its
// budget.
func (c *Conn) Write(p []byte) (int, error) {
	if c.s.lim[out].limited.Load() {
		return c.writeLimited(p)
	}
	c.armStall()
	n, err := c.nc.Write(p)
	c.count(&c.flows[out], n)
	return n, err
}

// SetWriteStallTimeout bounds, from then on, each write to the wrapped
// connection by d: a peer that accepts no byte for d fails the Write with
// os.ErrDeadlineExceeded. Unlike a write deadline it does not count the
// waits for bandwidth, only the time the peer keeps us from writing.
// Zero removes the bound. It replaces any write deadline set before.
func (c *Conn) SetWriteStallTimeout(d time.Duration) {
	c.stall.Store(int64(d))
	if d == 0 {
		c.nc.SetWriteDeadline(time.Time{})
	}
}

// armStall sets the wrapped connection's write deadline for the write
// about to start, when a stall timeout is set.
func (c *Conn) armStall() {
	if d := c.stall.Load(); d > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(time.Duration(d)))
	}
}

func (c *Conn) writeLimited(p []byte) (int, error) {
	f := &c.flows[out]
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.waitChans()
	if len(p) == 0 {
		return c.nc.Write(p)
	}
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+int(c.s.lim[out].chunk.Load()))]
		if err := c.s.lim[out].acquire(c, f, len(chunk)); err != nil {
			return written, err
		}
		c.armStall()
		n, err := c.nc.Write(chunk)
		c.count(f, n)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// sleep waits for d, a poke, the direction's deadline or Close, whichever
// comes first; only the last two are errors.
func (c *Conn) sleep(f *flow, d time.Duration) error {
	if dl := f.deadline.Load(); dl != 0 {
		left := time.Until(time.Unix(0, dl))
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		d = min(d, left)
	}
	if c.isClosed.Load() {
		return net.ErrClosed
	}
	t := f.arm(d)
	select {
	case <-t:
		return nil
	case <-f.waitChans().wake:
		f.disarm()
		if c.isClosed.Load() {
			return net.ErrClosed
		}
		return nil
	}
}

// Close unregisters the connection from its scheduler, unblocks the Reads
// and Writes waiting for bandwidth, and closes the underlying connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.isClosed.Store(true)
		for d := range c.flows {
			c.flows[d].poke()
		}
		c.s.unregister(c)
	})
	return c.nc.Close()
}

// Stat returns the connection's traffic (octez P2p_io_scheduler.stat).
// It keeps working after Close, the flows frozen at their last value.
func (c *Conn) Stat() Stat {
	return Stat{
		TotalRecv:      c.flows[in].total.Load(),
		TotalSent:      c.flows[out].total.Load(),
		CurrentInflow:  int(c.flows[in].avg.Load()),
		CurrentOutflow: int(c.flows[out].avg.Load()),
	}
}

// WriteQuantum is the most a paced Write moves at once (the scheduler's
// quantum, or less under a slow limit), or 0 while outflow is not
// limited. A writer that frames its stream in sealed chunks keeps them
// within it, so that pacing holds no message back for more than a quantum
// of bytes queued after it.
func (c *Conn) WriteQuantum() int {
	if !c.s.lim[out].limited.Load() {
		return 0
	}
	return int(c.s.lim[out].chunk.Load())
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// LocalAddr returns the local address of the wrapped connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote address of the wrapped connection.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets both deadlines, which also bound the waits for
// bandwidth: a handshake aborts by setting a past deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	err := c.nc.SetDeadline(t)
	c.flows[in].setDeadline(t)
	c.flows[out].setDeadline(t)
	return err
}

// SetReadDeadline sets the read deadline, which also bounds a Read's wait
// for bandwidth.
func (c *Conn) SetReadDeadline(t time.Time) error {
	err := c.nc.SetReadDeadline(t)
	c.flows[in].setDeadline(t)
	return err
}

// SetWriteDeadline sets the write deadline, which also bounds a Write's
// wait for bandwidth.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	err := c.nc.SetWriteDeadline(t)
	c.flows[out].setDeadline(t)
	return err
}
