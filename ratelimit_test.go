package p2ppool

import (
	"math"
	"testing"
	"time"

	"github.com/p2ppool/p2ppool/internal/rate"
	"github.com/stretchr/testify/require"
)

func TestRateLimitCheckAndDefault(t *testing.T) {
	def := RateLimit{Rate: 1, Burst: 2}
	require.Equal(t, def, RateLimit{}.or(def), "zero means the default")
	require.Equal(t, Unlimited, Unlimited.or(def))
	require.NoError(t, RateLimit{}.check("x"))
	require.NoError(t, Unlimited.check("x"))
	require.NoError(t, RateLimit{Rate: 0, Burst: 3}.check("x"), "a fixed allowance")
	require.ErrorContains(t, RateLimit{Rate: -1, Burst: 1}.check("X"), "X: rate")
	require.ErrorContains(t, RateLimit{Rate: math.NaN(), Burst: 1}.check("X"), "X: rate")
	require.ErrorContains(t, RateLimit{Rate: 1}.check("X"), "X: burst 0")
	require.Equal(t, "unlimited", Unlimited.String())
	require.Equal(t, "0.5/s burst 4", RateLimit{Rate: 0.5, Burst: 4}.String())
}

func TestRateLimitAllow(t *testing.T) {
	var b rate.Bucket
	now := time.Unix(1, 0)
	l := RateLimit{Rate: 2, Burst: 1}
	require.True(t, l.allow(&b, now))
	require.False(t, l.allow(&b, now))
	require.True(t, l.allow(&b, now.Add(500*time.Millisecond)))
	var u rate.Bucket
	for range 100 {
		require.True(t, Unlimited.allow(&u, now))
	}
}
