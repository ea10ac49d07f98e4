package rate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketStartsFullAndRefills(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		require.True(t, b.Allow(t0, 1, 3), "token %d of the burst", i)
	}
	require.False(t, b.Allow(t0, 1, 3), "the burst is spent")
	require.Equal(t, time.Second, b.Delay(t0, 1, 3))
	require.False(t, b.Allow(t0.Add(999*time.Millisecond), 1, 3), "not yet refilled")
	require.True(t, b.Allow(t0.Add(time.Second), 1, 3), "one token a second")
	// A long pause refills to the burst, never past it.
	now := t0.Add(time.Hour)
	require.InDelta(t, 3, b.Tokens(now, 1, 3), 1e-9)
	require.True(t, b.AllowN(now, 1, 3, 3))
	require.False(t, b.AllowN(now, 1, 3, 1))
}

func TestBucketAllowNTakesNothingWhenShort(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	require.True(t, b.AllowN(t0, 1, 4, 3))
	require.False(t, b.AllowN(t0, 1, 4, 2), "one token left")
	require.True(t, b.Allow(t0, 1, 4), "the refused AllowN took nothing")
}

func TestBucketUnlimitedAndZeroRate(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	for range 1000 {
		require.True(t, b.Allow(t0, math.Inf(1), 0))
	}
	var z Bucket
	require.True(t, z.Allow(t0, 0, 1))
	require.False(t, z.Allow(t0.Add(time.Hour), 0, 1), "a zero rate never refills")
	require.Equal(t, time.Duration(math.MaxInt64), z.Delay(t0, 0, 1))
}

func TestBucketClockGoingBackTakesNothing(t *testing.T) {
	var b Bucket
	t0 := time.Unix(1000, 0)
	require.True(t, b.Allow(t0, 1, 1))
	require.False(t, b.Allow(t0.Add(-time.Hour), 1, 1))
	require.True(t, b.Allow(t0.Add(time.Second), 1, 1))
}
