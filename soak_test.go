package p2ppool

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// The soak test: 1,000 connections between pools on a p2ppooltest
// network, sequence-numbered messages both ways, and faults on a tenth of
// the links. It runs in a synctest bubble, so the timeouts it waits for
// cost no real time.

const (
	soakPools = 46   // 46 pools make 1,035 pairs, one connection each
	soakLinks = 1000 // the first pairs
	// Phase one sends soakFirst short messages each way on every link;
	// phase two soakSecond long ones, more than soakBuffer in all, so a
	// writer whose bytes no longer move stalls; phase three two more,
	// one at a time.
	soakFirst   = 5
	soakSecond  = 8
	soakLong    = 800
	soakBuffer  = 4 << 10
	soakTimeout = 10 * time.Second // Config.Timeouts.Write
)

// soakFault is what happens to a link.
type soakFault int

const (
	healthy soakFault = iota
	// slow: latency, a bandwidth cap and a slow reader both ways. The
	// link is degraded, not broken: it must deliver everything.
	slow
	// reset: the transport is reset while both readers wait.
	reset
	// partition: the two hosts are cut apart.
	partition
	// halfOpen: the acceptor stops reading; the dialler's writer stalls.
	halfOpen
)

func (f soakFault) String() string {
	return [...]string{"healthy", "slow", "reset", "partition", "half-open"}[f]
}

// soakFaultOf spreads the faults over the links: one in ten breaks (reset,
// partition or half-open in turn), one in twenty is slow.
func soakFaultOf(i int) soakFault {
	switch {
	case i%10 == 3:
		return [...]soakFault{reset, partition, halfOpen}[(i/10)%3]
	case i%20 == 7:
		return slow
	}
	return healthy
}

// soakEnd is one pool's end of a link and what its reader received.
type soakEnd struct {
	c    *testConn
	done chan struct{} // closed when the reader returns
	mu   sync.Mutex
	// Guarded by mu (synctest.Wait orders nothing for the race detector).
	got []int // sequence numbers read, in order
	bad string
}

// read reads e.c until it ends.
func (e *soakEnd) read(ctx context.Context) {
	defer close(e.done)
	for {
		m, err := e.c.Read(ctx)
		if err != nil {
			return
		}
		seq, _, _ := strings.Cut(strings.TrimPrefix(m, "m"), ":")
		n, err := strconv.Atoi(seq)
		e.mu.Lock()
		if err != nil {
			e.bad = m
		}
		e.got = append(e.got, n)
		e.mu.Unlock()
	}
}

// received returns the sequence numbers read so far.
func (e *soakEnd) received(t *testing.T) []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Empty(t, e.bad, "a message without a sequence number")
	return slices.Clone(e.got)
}

type soakLink struct {
	fault  soakFault
	a, b   *soakEnd          // the dialler's end and the acceptor's
	ha, hb *p2ppooltest.Host // their hosts
	ta     *p2ppooltest.Conn // the transport under a's end
	sent   [2]int            // messages a and b have sent
}

func TestSoak(t *testing.T) {
	before := goleak.IgnoreCurrent() // a profiler's goroutines, say
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		nw := p2ppooltest.NewNetwork(p2ppooltest.Config{BufferSize: soakBuffer})

		// Each pool has a host, so a /24, of its own: the per-address
		// and per-subnet bounds see one connection per pair.
		hosts := make([]*p2ppooltest.Host, soakPools)
		pools := make([]*node, soakPools)
		for i := range pools {
			hosts[i] = nw.NewHost()
			ln, err := hosts[i].Listen("tcp", ":9732")
			require.NoError(t, err)
			p, err := NewBasic(textMessages(), Config{
				Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: hosts[i],
				Limits:      Limits{MinConnections: 1, ExpectedConnections: soakPools, MaxConnections: 2 * soakPools},
				Admission:   AdmissionConfig{MaxIncomingConnections: soakPools},
				Maintenance: MaintenanceConfig{IdleTime: Disabled},
				Timeouts:    TimeoutConfig{Write: soakTimeout},
			})
			require.NoError(t, err)
			pools[i] = serveNode(t, p, ln)
		}

		// Connect the first soakLinks pairs, all at once.
		var wg sync.WaitGroup
		links := make([]*soakLink, 0, soakLinks)
		for i := 0; i < soakPools && len(links) < soakLinks; i++ {
			for j := i + 1; j < soakPools && len(links) < soakLinks; j++ {
				links = append(links, &soakLink{fault: soakFaultOf(len(links)), ha: hosts[i], hb: hosts[j],
					a: &soakEnd{done: make(chan struct{})}, b: &soakEnd{done: make(chan struct{})}})
				l, a, b := links[len(links)-1], pools[i], pools[j]
				wg.Go(func() {
					c, err := a.Connect(ctx, b.point)
					if err != nil {
						t.Errorf("connect %v to %v: %v", a.point, b.point, err)
						return
					}
					l.a.c = c
				})
			}
		}
		wg.Wait()
		synctest.Wait() // the acceptors register their ends
		require.False(t, t.Failed())
		for _, l := range links {
			peer := pools[indexOf(hosts, l.ha)].Config().Identity.PeerID
			cb, ok := pools[indexOf(hosts, l.hb)].Conns().ByPeer(peer)
			require.True(t, ok)
			l.b.c = cb
			local := cb.Info().RemoteAddr.(*net.TCPAddr).AddrPort()
			remote := l.a.c.Info().RemoteAddr.(*net.TCPAddr).AddrPort()
			ta, ok := nw.Lookup(local, remote)
			require.True(t, ok)
			l.ta = ta
			if l.fault == slow {
				f := p2ppooltest.Faults{Latency: 50 * time.Millisecond, Bandwidth: 8000, ReadRate: 6000}
				ta.SetFaults(f)
				ta.Peer().SetFaults(f)
			}
			go l.a.read(ctx)
			go l.b.read(ctx)
		}

		send := func(l *soakLink, side, count, size int) {
			for range count {
				c := [2]*soakEnd{l.a, l.b}[side].c
				err := c.Write(ctx, numbered(l.sent[side], size))
				if l.fault == healthy || l.fault == slow {
					require.NoError(t, err, "%v link %v", l.fault, c.Info().Point)
				}
				l.sent[side]++
			}
		}
		sendAll := func(count, size int) {
			for _, l := range links {
				send(l, 0, count, size)
				send(l, 1, count, size)
			}
		}

		// Phase one: every link carries short messages; the readers take
		// them all (the slow links' later).
		sendAll(soakFirst, 0)
		synctest.Wait()

		// The faults.
		for _, l := range links {
			switch l.fault {
			case reset:
				l.ta.Reset()
			case partition:
				nw.Partition(l.ha, l.hb)
			case halfOpen:
				l.ta.SetFaults(p2ppooltest.Faults{Stalled: true})
			}
		}
		// The reset links end before anything more is written, so their
		// readers, not their writers, meet the reset.
		synctest.Wait()

		// Phase two: long messages, which fill the buffers of the links
		// whose bytes no longer move; their writers time out.
		sendAll(soakSecond, soakLong)
		time.Sleep(soakTimeout + 5*time.Second)

		// Phase three: two more messages, one at a time. The half-open
		// acceptor learns of its peer's close only now, as over TCP: the
		// first write is lost, the reset it provokes fails the second.
		sendAll(1, 0)
		synctest.Wait()
		sendAll(1, 0)
		time.Sleep(5 * time.Second)

		counts := make(map[soakFault]int)
		for _, l := range links {
			counts[l.fault]++
			checkSoakLink(t, l)
		}
		assert.Equal(t, map[soakFault]int{healthy: 850, slow: 50, reset: 34, partition: 33, halfOpen: 33}, counts)

		for _, p := range pools {
			require.NoError(t, p.Close())
		}
		for _, l := range links {
			<-l.a.done
			<-l.b.done
		}
	})
	goleak.VerifyNone(t, before)
}

// checkSoakLink checks what each end of l received and how it ended.
func checkSoakLink(t *testing.T, l *soakLink) {
	t.Helper()
	// seq is 0, 1, ... n-1: nothing lost, duplicated or reordered.
	seq := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	endedWith := func(e *soakEnd, want DisconnectReason) {
		t.Helper()
		select {
		case <-e.c.Done():
		default:
			t.Errorf("%v link %v: a connection still runs, want %v", l.fault, e.c.Info().Point, want)
			return
		}
		de := disconnectError(t, e.c.Err())
		assert.Equal(t, want, de.Reason, "%v link %v: %v", l.fault, e.c.Info().Point, de)
	}
	what := fmt.Sprintf("%v link %v", l.fault, l.a.c.Info().Point)
	switch l.fault {
	case healthy, slow:
		for side, e := range []*soakEnd{l.a, l.b} {
			require.NoError(t, e.c.Err(), what)
			assert.Equal(t, seq(l.sent[1-side]), e.received(t), what)
		}
	case reset:
		// Both readers waited; both get the reset.
		assert.Equal(t, seq(soakFirst), l.a.received(t), what)
		assert.Equal(t, seq(soakFirst), l.b.received(t), what)
		endedWith(l.a, ReasonReadError)
		endedWith(l.b, ReasonReadError)
	case partition:
		// Nothing crossed after the cut; both writers stalled.
		assert.Equal(t, seq(soakFirst), l.a.received(t), what)
		assert.Equal(t, seq(soakFirst), l.b.received(t), what)
		endedWith(l.a, ReasonWriteTimeout)
		endedWith(l.b, ReasonWriteTimeout)
	case halfOpen:
		// b stopped reading after phase one; a read everything b sent
		// until its writer timed out and it closed.
		assert.Equal(t, seq(soakFirst+soakSecond), l.a.received(t), what)
		assert.Equal(t, seq(soakFirst), l.b.received(t), what)
		endedWith(l.a, ReasonWriteTimeout)
		endedWith(l.b, ReasonWriteError)
	}
}

func indexOf(hosts []*p2ppooltest.Host, h *p2ppooltest.Host) int {
	for i, x := range hosts {
		if x == h {
			return i
		}
	}
	return -1
}
