package sched

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoGoroutinePerConnection: wrapping connections and moving bytes
// through them, limited or not, starts no goroutine; the scheduler has one.
func TestNoGoroutinePerConnection(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newSched(t, Config{Limits: Limits{MaxOutflow: 1 << 40, ConnMaxInflow: 1 << 40}})
	var cs []*Conn
	buf := make([]byte, 1000)
	for range 100 {
		c := s.Wrap(&fakeConn{})
		cs = append(cs, c)
		_, err := c.Write(buf)
		require.NoError(t, err)
		_, err = c.Read(buf)
		require.NoError(t, err)
	}
	// At most the ticker is new (an earlier test's goroutine may have
	// exited meanwhile); a goroutine per connection would add 100.
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+1)
	for _, c := range cs {
		c.Close()
	}
	s.Close()
	assert.EqualValues(t, 100*1000, s.Stat().TotalSent)
	assert.EqualValues(t, 100*1000, s.Stat().TotalRecv)
}

// TestStress runs real-time traffic on several connections while the
// limits, deadlines and connections change under it: for the race
// detector, and to check that nothing hangs.
func TestStress(t *testing.T) {
	s := newSched(t, Config{Period: 10 * time.Millisecond, Quantum: 4 << 10})
	defer s.Close()
	var r rig
	for i := range 8 {
		var c *Conn
		if i%2 == 0 {
			c = r.drained(s)
			r.writeLoop(c, 1+rand.IntN(64<<10))
		} else {
			c = r.fed(s)
			r.readLoop(c, 1+rand.IntN(64<<10))
		}
	}
	limits := []Limits{
		{},
		{MaxOutflow: 1 << 20, MaxInflow: 1 << 20},
		{ConnMaxOutflow: 256 << 10, ConnMaxInflow: 256 << 10},
		{MaxOutflow: 4 << 20, ConnMaxOutflow: 1 << 20, MaxInflow: 512 << 10, ConnMaxInflow: 2 << 20},
		{MaxOutflow: 100, MaxInflow: 100},
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			assert.NoError(t, s.SetLimits(limits[i%len(limits)]))
			c := r.conns[rand.IntN(len(r.conns))]
			switch rand.IntN(4) {
			case 0:
				c.SetDeadline(time.Now().Add(time.Millisecond))
			case 1:
				c.SetDeadline(time.Time{})
			}
			_ = s.Stat()
			_ = c.Stat()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	// Close with a limit that starves everyone: Close must still unblock
	// them all.
	require.NoError(t, s.SetLimits(Limits{MaxOutflow: 1, MaxInflow: 1}))
	done := make(chan struct{})
	go func() { r.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the connections hung")
	}
}
