package p2ppool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFIFO(t *testing.T) {
	t.Run("order across blocks, bound, at", func(t *testing.T) {
		var pool blockPool[int]
		f := newFIFO(3*fifoBlock+5, &pool)
		for i := range 3*fifoBlock + 5 {
			require.True(t, f.push(i))
		}
		assert.False(t, f.push(-1), "full")
		assert.Len(t, f.blocks, 4)
		assert.Equal(t, fifoBlock+7, *f.at(fifoBlock + 7))
		for want := range fifoBlock + 10 {
			v, ok := f.pop()
			require.True(t, ok)
			require.Equal(t, want, v)
		}
		assert.Len(t, f.blocks, 3, "the emptied block went back")
		assert.Equal(t, fifoBlock+10, *f.at(0))
		for i := range fifoBlock + 10 { // refill past the end
			require.True(t, f.push(1000+i))
		}
		for want := fifoBlock + 10; want < 3*fifoBlock+5; want++ {
			v, _ := f.pop()
			require.Equal(t, want, v)
		}
		for i := range fifoBlock + 10 {
			v, _ := f.pop()
			require.Equal(t, 1000+i, v)
		}
		_, ok := f.pop()
		assert.False(t, ok)
		assert.Empty(t, f.blocks, "an empty fifo holds no block")
	})
	t.Run("pop clears the slot; blocks come back zero", func(t *testing.T) {
		var pool blockPool[*int]
		f := newFIFO(10, &pool)
		f.push(new(int))
		f.push(new(int))
		b := f.blocks[0]
		f.pop()
		assert.Nil(t, b[0], "no reference kept to a popped entry")
		f.pop()
		assert.Equal(t, [fifoBlock]*int{}, *b)
	})
	t.Run("without a pool", func(t *testing.T) {
		f := newFIFO[int](2, nil)
		f.push(1)
		v, ok := f.pop()
		assert.True(t, ok)
		assert.Equal(t, 1, v)
	})
}
