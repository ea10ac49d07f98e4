package p2ppooltest

import (
	"sync"
	"sync/atomic"
	"time"
)

// link is what the two ends of a connection share.
type link struct {
	// reset is set, once, before either pipe learns of a reset: an end
	// that sees the effects of the reset (its peer ending, say) under a
	// pipe's lock then reads it as set, so both ends see the reset, never
	// an EOF the reset caused.
	reset atomic.Bool
	// released is set, under the Network's mu, by the first of the two
	// ends' Close calls to find both ends closed: it gives the pair's
	// ports and paths back once.
	released bool
}

// pipe is one direction of a connection: the bytes one end has written
// and the other has not read yet, at most size of them, like the send and
// receive buffers of a TCP socket taken together.
type pipe struct {
	// Immutable after creation.
	path *path // the faults of the host pair, in this direction
	size int   // the most bytes it holds

	mu sync.Mutex
	// Guarded by mu.
	faults   Faults    // of this connection alone
	segs     []segment // written and not yet read, in order
	buffered int       // bytes in segs
	txFree   time.Time // when the bandwidth cap lets the next byte leave
	lastAt   time.Time // arrival of the last segment, so arrivals stay in order
	nextRead time.Time // when a slow reader may read again
	eof      bool      // the writer closed its side: no more writes
	eofAt    time.Time // when the end of the stream reaches the reader
	gone     bool      // the reader closed: writes are lost, then fail
	rst      bool      // a write reached the closed reader: later ones fail
	// changed is closed on every change, and made again only when a
	// waiter asks for it (waitLocked): nil while no one waits.
	changed chan struct{}
	// notify is started, once, at the next change that may end a
	// Read's wait (readableLocked; Conn.NotifyReadable): nil while no
	// one waits that way.
	notify func()
}

// segment is the bytes of one write, or of a part of it, and when they
// reach the reader.
type segment struct {
	b  []byte
	at time.Time
}

// bandwidthSegment is the largest segment of a bandwidth-capped
// direction, so that a long write trickles in rather than arriving whole.
const bandwidthSegment = 4 << 10

func newPipe(pt *path, size int) *pipe {
	return &pipe{path: pt, size: size}
}

// signalLocked wakes every goroutine waiting on the pipe. p.mu must be
// held.
func (p *pipe) signalLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// readableLocked wakes every goroutine waiting on the pipe after a change
// that may end a Read's wait (bytes, the end of the stream, a close, a
// reset, the read deadline), and starts the function a reader left to be
// notified. Only such changes start it: the writer's (room freed, its
// deadline moved) would wake a parked reader for nothing. p.mu must be
// held.
func (p *pipe) readableLocked() {
	p.signalLocked()
	if f := p.notify; f != nil {
		p.notify = nil
		go f() // on a goroutine of its own: it may call the Conn, which takes p.mu
	}
}

// waitLocked returns a channel closed at the pipe's next change. p.mu
// must be held.
func (p *pipe) waitLocked() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// faultsLocked returns the direction's faults and a channel closed when
// the host pair's change, nil while the pair has none (see path.watch).
// p.mu must be held (lock order: pipe, then path).
func (p *pipe) faultsLocked() (Faults, <-chan struct{}) {
	f, ch := p.path.watch()
	return p.faults.add(f), ch
}

// pushLocked queues b, which fits, with the arrival times the faults give
// it. p.mu must be held.
func (p *pipe) pushLocked(b []byte, f Faults, now time.Time) {
	for len(b) > 0 {
		k := len(b)
		if f.Bandwidth > 0 {
			k = min(k, bandwidthSegment)
		}
		leave := now
		if f.Bandwidth > 0 {
			leave = later(now, p.txFree).Add(bytesTime(k, f.Bandwidth))
			p.txFree = leave
		}
		at := later(leave.Add(f.Latency), p.lastAt)
		p.lastAt = at
		p.segs = append(p.segs, segment{b: append([]byte(nil), b[:k]...), at: at})
		p.buffered += k
		b = b[k:]
	}
	p.readableLocked()
}

// popLocked copies into b what has arrived by now, at most limit bytes.
// p.mu must be held.
func (p *pipe) popLocked(b []byte, limit int, now time.Time) int {
	n := 0
	for n < limit && len(p.segs) > 0 && !p.segs[0].at.After(now) {
		s := &p.segs[0]
		k := copy(b[n:limit], s.b)
		s.b = s.b[k:]
		n += k
		if len(s.b) == 0 {
			p.segs[0] = segment{}
			p.segs = p.segs[1:]
		}
	}
	if len(p.segs) == 0 {
		p.segs = nil // let the backing array go
	}
	p.buffered -= n
	if n > 0 {
		p.signalLocked()
	}
	return n
}

// closeWriteLocked ends the stream: the reader gets EOF after the bytes
// already written. p.mu must be held.
func (p *pipe) closeWriteLocked(now time.Time) {
	if p.eof {
		p.readableLocked() // a Close after CloseWrite still wakes the waiters
		return
	}
	f, _ := p.faultsLocked()
	p.eof = true
	p.eofAt = later(now.Add(f.Latency), p.lastAt)
	p.readableLocked()
}

// closeReadLocked drops what the reader will never read; later writes
// fail. Across a partition (cut) the writer's host does not learn of it:
// its bytes stay unacknowledged in its buffer. p.mu must be held.
func (p *pipe) closeReadLocked(cut bool) {
	p.gone = true
	if !cut {
		p.segs, p.buffered = nil, 0
	}
	p.readableLocked()
}

// resetLocked drops everything and wakes the waiters, who find the
// connection reset. p.mu must be held.
func (p *pipe) resetLocked() {
	p.segs, p.buffered = nil, 0
	p.readableLocked()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// bytesTime is how long n bytes take at rate bytes per second.
func bytesTime(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
