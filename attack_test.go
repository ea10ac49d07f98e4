package p2ppool

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// TestHonestPeerGetsInUnderAttack: 1,000 sockets from one /24 hold or
// churn handshakes (half say nothing, half send one byte and stall, all
// redial when dropped) and 84 authenticated connections from one address
// try to sit idle in the pool. An honest peer from another subnet connects
// on its first try, every time, in well under a second; once the attack
// stops, the goroutines are back to what they were. Under synctest, so
// the times are the pool's timeouts and slots, not the machine's speed.
//
// A second run spreads the 1,000 sockets over 250 subnets: they fill every
// handshake slot, and the honest peer gets in by evicting the oldest.
func TestHonestPeerGetsInUnderAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 attacking sockets")
	}
	t.Run("one /24", func(t *testing.T) {
		attack(t, func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 66, 0, byte(1 + i%250)}) })
	})
	t.Run("250 subnets", func(t *testing.T) {
		attack(t, func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 66, byte(i % 250), 1 + byte(i/250)}) })
	})
}

func attack(t *testing.T, source func(i int) netip.Addr) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		b := newNode(t, n, nil) // octez defaults: 20 handshake slots, 100 connections
		honest := nodeAt(t, n, "10.77.0.1", nil)
		synctest.Wait()
		baseline := userGoroutines()

		stop := make(chan struct{})
		var attackers sync.WaitGroup
		for i := range 1000 {
			src := source(i)
			attackers.Go(func() {
				for {
					nc, err := n.dialFrom(context.Background(), b.point.String(), src)
					if err == nil {
						if i%2 == 1 {
							nc.Write([]byte{0}) // one byte of a connection message, then nothing
						}
						select {
						case <-readEOF(nc):
						case <-stop:
						}
						nc.Close()
					}
					select {
					case <-stop:
						return
					// Redial when dropped, each attacker at its own pace.
					case <-time.After(100*time.Millisecond + time.Duration(rand.Int64N(int64(100*time.Millisecond)))):
					}
				}
			})
		}
		// 84 would-be idle connections from one address.
		idle := netip.MustParseAddr("10.99.1.1")
		var idlers []*socket.Conn
		for range 84 {
			if sc := rawHandshake(t, n, b, idle); sc != nil {
				idlers = append(idlers, sc)
			}
		}
		// One address holds its share, no more (fewer when an attacker's
		// socket took the slot of one of its handshakes).
		synctest.Wait()
		fromIdle := func() (n int) {
			for _, c := range b.Conns().All() {
				if ap, _ := addrPortOf(c.Info().RemoteAddr); ap.Addr() == idle {
					n++
				}
			}
			return n
		}
		held := fromIdle()
		assert.LessOrEqual(t, held, DefaultMaxIncomingPerAddr)

		var took []time.Duration
		for range 10 {
			// Let the attack churn, and come at a moment of our own.
			time.Sleep(time.Second + time.Duration(rand.Int64N(int64(time.Second))))
			start := time.Now()
			c, err := honest.Connect(ctxT(t), b.point)
			require.NoError(t, err, "first try")
			waitConn(t, b, honest.Config().Identity.PeerID) // and b has it too
			took = append(took, time.Since(start))
			require.NoError(t, c.Disconnect(ctxT(t), false))
			waitFor(t, "b to see the disconnection", func() bool { return b.Conns().Len() == fromIdle() })
		}
		slices.Sort(took)
		p99 := took[len(took)*99/100]
		t.Logf("honest connects: median %v, p99 %v; refused: %v", took[len(took)/2], p99, b.Stats().Connections.Refused)
		assert.Less(t, p99, time.Second)

		close(stop)
		attackers.Wait()
		for _, sc := range idlers {
			sc.Close()
			sc.Free()
		}
		waitFor(t, "the attack to leave", func() bool {
			s := b.Stats()
			return s.Connections.Established == 0 && s.Connections.IncomingHandshakes == 0
		})
		synctest.Wait()
		if !assert.Equal(t, baseline, userGoroutines(), "goroutines back to baseline") {
			buf := make([]byte, 1<<20)
			t.Logf("%s", buf[:runtime.Stack(buf, true)])
		}
	})
}

// readEOF returns a channel closed once nc's reads fail.
func readEOF(nc interface{ Read([]byte) (int, error) }) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	}()
	return done
}

// rawHandshake completes a handshake with nd from src and returns the
// connection, or nil when nd refused it.
func rawHandshake(t testing.TB, n *network, nd *node, src netip.Addr) *socket.Conn {
	t.Helper()
	nc, err := n.dialFrom(ctxT(t), nd.point.String(), src)
	require.NoError(t, err)
	cfg := rawConfig(t, testIdentity(t), wire.Metadata{})
	auth, err := socket.Authenticate(ctxT(t), nc, false, &cfg)
	if err != nil {
		return nil
	}
	sc, err := auth.Accept()
	if err != nil {
		return nil
	}
	return sc
}

// TestAttackOverLoopbackLeavesNoFiles runs the one-/24 attack over real
// loopback sockets (Linux lets a socket bind any 127/8 source address, so
// the attack's /24 and the honest peer's are distinct): the honest peer
// gets in on its first try each time, and once the attack is over the
// process holds the file descriptors and goroutines it held before.
func TestAttackOverLoopbackLeavesNoFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of sockets")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd to count file descriptors")
	}
	n := newNetwork("loopback")
	b := newNode(t, n, func(c *Config) { c.Admission.LimitLoopback = true })
	honest := newNode(t, n, func(c *Config) {
		c.Admission.LimitLoopback = true
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, 0, 1)}}
	})
	fdsBefore, goroutinesBefore := openFiles(t), runtime.NumGoroutine()

	stop := make(chan struct{})
	var attackers sync.WaitGroup
	for i := range 200 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%200))}}
		attackers.Go(func() {
			for {
				nc, err := d.DialContext(context.Background(), "tcp", b.point.String())
				if err == nil {
					if i%2 == 1 {
						nc.Write([]byte{0})
					}
					select {
					case <-readEOF(nc):
					case <-stop:
					}
					nc.Close()
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
	for range 5 {
		waitFor(t, "some attack", func() bool { return b.Stats().Connections.Refused[RefusedPendingPerSubnet] > 100 })
		c, err := honest.Connect(ctxT(t), b.point)
		require.NoError(t, err, "first try")
		waitConn(t, b, honest.Config().Identity.PeerID)
		require.NoError(t, c.Disconnect(ctxT(t), false))
		waitFor(t, "b to see the disconnection", func() bool { return b.Conns().Len() == 0 })
	}
	close(stop)
	attackers.Wait()
	waitFor(t, "the attack's sockets and goroutines to be gone", func() bool {
		s := b.Stats()
		return s.Connections.IncomingHandshakes == 0 && openFiles(t) <= fdsBefore && runtime.NumGoroutine() <= goroutinesBefore
	})
	t.Logf("refused: %v", b.Stats().Connections.Refused)
}

func openFiles(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}
