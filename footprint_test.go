package p2ppool

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/greylist"
)

// idlePools is how many pools BenchmarkIdlePool creates (100 with
// -short).
const idlePools = 1_000

// maxIdlePoolHeap is the most heap a pool with octez's defaults and no
// connection may hold (issue 20; 4.35 MB before, octez's greylist filter
// allocated up front).
const maxIdlePoolHeap = 128 << 10

// openIdlePools creates n pools with octez's defaults and no connection.
// Config holds only an identity, shared by all of them (it is the
// caller's, not the pool's), and NoProofOfWork, as the test identity has
// none; the target costs no memory. Maintenance runs, as by default.
func openIdlePools(tb testing.TB, n int) []*testPool {
	tb.Helper()
	id := testIdentity(tb)
	pools := make([]*testPool, n)
	for i := range pools {
		p, err := NewBasic(textMessages(), Config{Identity: id, ProofOfWorkTarget: NoProofOfWork})
		require.NoError(tb, err)
		pools[i] = p
	}
	return pools
}

func closeAll(pools []*testPool) {
	for _, p := range pools {
		p.Close()
	}
}

// greylistOne greylists one address in each pool, a different one each.
func greylistOne(tb testing.TB, pools []*testPool) {
	tb.Helper()
	for i, p := range pools {
		require.NoError(tb, p.ACL().GreylistAddr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
	}
}

// BenchmarkIdlePool reports what a pool with octez's defaults and no
// connection costs: heap bytes (heap-B/pool, runtime.MemStats.HeapAlloc
// after garbage collection), goroutine stack bytes (stack-B/pool) and
// goroutines (goroutines/pool), averaged over idlePools pools alive at
// once; and the heap one greylisted address adds to a pool
// (greylisted-B/pool).
func BenchmarkIdlePool(b *testing.B) {
	n := idlePools
	if testing.Short() {
		n = 100
	}
	for b.Loop() {
		var pools []*testPool
		m := measure(b, func() func() {
			pools = openIdlePools(b, n)
			return func() {}
		})
		g := measure(b, func() func() {
			greylistOne(b, pools)
			return func() {}
		})
		closeAll(pools)
		b.ReportMetric(m.heap/float64(n), "heap-B/pool")
		b.ReportMetric(m.stack/float64(n), "stack-B/pool")
		b.ReportMetric(m.goroutines/float64(n), "goroutines/pool")
		b.ReportMetric(g.heap/float64(n), "greylisted-B/pool")
	}
}

// TestIdlePoolHeap: a pool with octez's defaults and no connection holds
// at most maxIdlePoolHeap of heap and one goroutine, its maintenance's,
// which waits for new points while the pool is below its minimum (the
// housekeeping, which also ticks the scheduler's statistics, waits on a
// timer, with no goroutine); its address
// greylist takes memory
// on the first greylisting, about 44 KiB for one address (the filter's
// page table and the five 4 KiB pages of its cells), and gives it back
// once the address has decayed.
func TestIdlePoolHeap(t *testing.T) {
	const n = 50
	var pools []*testPool
	m := measure(t, func() func() {
		pools = openIdlePools(t, n)
		return func() {}
	})
	defer closeAll(pools)
	perPool := m.heap / n
	t.Logf("idle pool: %.0f B of heap, %.0f B of stack, %.1f goroutines", perPool, m.stack/n, m.goroutines/n)
	assert.LessOrEqual(t, perPool, float64(maxIdlePoolHeap))
	assert.LessOrEqual(t, m.goroutines/n, 1.0)
	for _, p := range pools {
		require.Zero(t, p.acl.addrs.Bloom().AllocatedBytes())
	}

	g := measure(t, func() func() {
		greylistOne(t, pools)
		return func() {}
	})
	perPool = g.heap / n
	t.Logf("one greylisted address: %.0f B of heap a pool", perPool)
	table, pages := 1024*24, 5*greylist.PageBytes
	assert.Greater(t, perPool, float64(table+pages)*0.9, "the filter is allocated on first use")
	assert.Less(t, perPool, float64(table+pages)+16<<10)
	for i, p := range pools {
		require.True(t, p.ACL().AddrBanned(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
		require.LessOrEqual(t, p.acl.addrs.Bloom().AllocatedBytes(), table+pages)
	}

	// Decayed (15 countdowns, each GC one), the pages are freed.
	d := measure(t, func() func() {
		for _, p := range pools {
			for range greylist.MaxCountdown {
				require.NoError(t, p.ACL().GC(0))
			}
		}
		return func() {}
	})
	t.Logf("decayed: %.0f B of heap a pool", d.heap/n)
	assert.Less(t, d.heap/n, -float64(table+pages)*0.9)
	for i, p := range pools {
		require.False(t, p.ACL().AddrBanned(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
		require.Zero(t, p.acl.addrs.Bloom().AllocatedBytes())
	}
}

// TestACLConcurrentGreylist greylists, checks, ages, lists and clears one
// pool's ACL from several goroutines at once while the filter allocates
// and frees its pages (run it under -race), then checks that what was
// greylisted since the last Clear is refused.
func TestACLConcurrentGreylist(t *testing.T) {
	p := newNode(t, newNetwork("mem"), nil)
	acl := p.ACL()
	addr := func(r *rand.Rand) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 500 {
				switch r.IntN(10) {
				case 0:
					assert.NoError(t, acl.GC(0))
				case 1:
					acl.List()
				case 2:
					if r.IntN(20) == 0 {
						assert.NoError(t, acl.Clear())
					}
				case 3, 4:
					acl.AddrBanned(addr(r))
				default:
					assert.NoError(t, acl.GreylistAddr(addr(r)))
				}
			}
		})
	}
	wg.Wait()
	r := rand.New(rand.NewPCG(9, 9))
	var last []netip.Addr
	for range 100 {
		a := addr(r)
		require.NoError(t, acl.GreylistAddr(a))
		last = append(last, a)
	}
	for _, a := range last {
		assert.True(t, acl.AddrBanned(a), "%v", a)
	}
}
