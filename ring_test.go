package p2ppool

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRing(t *testing.T) {
	t.Run("push refuses when full, pop is FIFO across the wrap", func(t *testing.T) {
		r := newRing[int](3)
		for i := range 3 {
			assert.True(t, r.push(i))
		}
		assert.False(t, r.push(3), "full")
		v, ok := r.pop()
		assert.True(t, ok)
		assert.Equal(t, 0, v)
		assert.True(t, r.push(3)) // wraps
		assert.Equal(t, []int{1, 2, 3}, r.list())
		for want := 1; want <= 3; want++ {
			v, ok := r.pop()
			assert.True(t, ok)
			assert.Equal(t, want, v)
		}
		_, ok = r.pop()
		assert.False(t, ok)
	})
	t.Run("add forgets the oldest", func(t *testing.T) {
		r := newRing[int](3)
		for i := range 5 {
			r.add(i)
		}
		assert.Equal(t, []int{2, 3, 4}, r.list())
		assert.Equal(t, 3, r.len())
	})
	t.Run("zero bound holds nothing", func(t *testing.T) {
		r := newRing[int](0)
		r.add(1)
		assert.False(t, r.push(1))
		assert.Empty(t, r.list())
	})
	t.Run("storage grows only as used, and keeps order when it grows after a wrap", func(t *testing.T) {
		r := newRing[int](1000)
		assert.Zero(t, len(r.buf))
		for i := range 4 {
			r.push(i)
		}
		r.pop()
		r.pop()
		for i := 4; i < 10; i++ { // wraps the 4-slot storage, then grows it
			r.push(i)
		}
		assert.Equal(t, []int{2, 3, 4, 5, 6, 7, 8, 9}, r.list())
		assert.LessOrEqual(t, len(r.buf), 16)
	})
	t.Run("release drops large storage once empty, keeps small", func(t *testing.T) {
		r := newRing[int](1000)
		for i := range 100 {
			r.push(i)
		}
		r.release()
		assert.Equal(t, 100, r.len(), "not while it holds entries")
		for range 100 {
			r.pop()
		}
		r.release()
		assert.Zero(t, len(r.buf))
		assert.True(t, r.push(7))
		assert.Equal(t, []int{7}, r.list())
		for i := range 10 {
			r.push(i)
		}
		for range 11 {
			r.pop()
		}
		r.release()
		assert.NotZero(t, len(r.buf), "up to ringKeep entries are kept")
	})
	t.Run("pop clears the slot", func(t *testing.T) {
		r := newRing[*int](2)
		r.push(new(int))
		r.pop()
		assert.Nil(t, r.buf[0])
	})
}
