package p2ppooltest

import (
	"sync"
	"time"
)

// Faults are the faults of one direction of a link, from the end that
// writes to the end that reads. The zero value is a healthy link: bytes
// arrive at once, in order, as fast as the reader takes them.
//
// Faults set on a connection ([Conn.SetFaults]) and on the pair of hosts
// it joins ([Network.SetFaults]) add up: latencies add, the lower rate
// wins, and either side can stall the direction.
type Faults struct {
	// Latency delays every write: its bytes can be read this long after
	// the write returned. Bytes stay in order.
	Latency time.Duration
	// Bandwidth caps the direction, in bytes per second: each write's
	// bytes leave one after another at this rate (and then take Latency
	// to arrive). Bytes on the way count against the buffer, so a sender
	// faster than the cap blocks once the buffer is full. If zero,
	// unlimited.
	Bandwidth int
	// ReadRate makes the reading end a slow reader: its reads take at most
	// this many bytes per second, in slices of a fiftieth of a second's
	// worth. Bytes it has not read fill the buffer and stall the sender.
	// If zero, unlimited.
	ReadRate int
	// Stalled stops the direction: nothing written reaches the reader, not
	// even the end of the stream, until it is cleared; the writer fills
	// the buffer and then blocks (until a write deadline, a Close or a
	// reset). It is a half-open connection whose reader stopped reading:
	// a Close of the reader still fails the writer's next write, as the
	// reader's kernel resets it. A host that vanishes is a partition
	// ([Network.Partition]).
	Stalled bool
}

// add combines two sets of faults on the same direction.
func (f Faults) add(g Faults) Faults {
	lower := func(a, b int) int {
		switch {
		case a == 0:
			return b
		case b == 0:
			return a
		}
		return min(a, b)
	}
	return Faults{
		Latency:   f.Latency + g.Latency,
		Bandwidth: lower(f.Bandwidth, g.Bandwidth),
		ReadRate:  lower(f.ReadRate, g.ReadRate),
		Stalled:   f.Stalled || g.Stalled,
	}
}

// path is one direction between two hosts: the faults set on the host
// pair and whether it is partitioned. Every connection between the hosts
// in that direction reads them.
type path struct {
	// users counts the connections (pairs of ends) between the hosts in
	// either direction that are not yet closed at both ends. Guarded by
	// the Network's mu: a path with no user and nothing set is dropped
	// (Network.pruneLocked), so that the paths a long simulation dials do
	// not pile up.
	users int

	mu sync.Mutex
	// Guarded by mu.
	faults      Faults
	partitioned bool
	// changed is closed when the fields change, and made again only when
	// watch hands it out: nil while no one waits on the path.
	changed chan struct{}
}

func newPath() *path { return &path{} }

// stateLocked returns the path's faults, with a partition as a stall.
// p.mu must be held.
func (p *path) stateLocked() Faults {
	f := p.faults
	f.Stalled = f.Stalled || p.partitioned
	return f
}

// update changes the path and wakes every connection that waits on it.
func (p *path) update(fn func(p *path)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// watch returns the path's faults and a channel closed when they change;
// the channel is nil while the path has no fault and no partition: going
// from none to some never lets a waiting Read or Write proceed (it only
// delays or stops bytes to come, and a blocked call finds the new faults
// when the pipe next wakes it), so a call on a healthy path waits on its
// pipe alone.
func (p *path) watch() (Faults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.stateLocked()
	if f == (Faults{}) {
		return f, nil
	}
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return f, p.changed
}

// isDefault reports whether nothing is set on the path: no faults and
// no partition.
func (p *path) isDefault() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults == (Faults{}) && !p.partitioned
}

func (p *path) isPartitioned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.partitioned
}
