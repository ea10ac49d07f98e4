package crypto

import (
	"crypto/rand"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newPeerKeys(t *testing.T, n int) []PublicKey {
	t.Helper()
	pks := make([]PublicKey, n)
	for i := range pks {
		pk, _, err := GenerateKey(rand.Reader)
		require.NoError(t, err)
		pks[i] = pk
	}
	return pks
}

func TestChannelKeyCacheMatchesPrecompute(t *testing.T) {
	_, sk, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	c := NewChannelKeyCache(&sk, 4)
	for _, pk := range newPeerKeys(t, 3) {
		want, err := Precompute(&pk, &sk)
		require.NoError(t, err)
		for range 2 {
			got, err := c.Get(&pk)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		}
	}
	assert.Equal(t, KeyCacheStats{Len: 3, Size: 4, Hits: 3, Misses: 3}, c.Stats())
}

// The least recently used entry goes first, and a hit counts as a use.
func TestChannelKeyCacheEvictsLeastRecentlyUsed(t *testing.T) {
	_, sk, _ := GenerateKey(rand.Reader)
	c := NewChannelKeyCache(&sk, 2)
	pk := newPeerKeys(t, 3)
	get := func(i int) {
		t.Helper()
		_, err := c.Get(&pk[i])
		require.NoError(t, err)
	}
	get(0)
	get(1)
	get(0) // 1 is now the oldest
	get(2) // evicts 1
	before := c.Stats()
	get(0)
	get(2)
	assert.Equal(t, before.Hits+2, c.Stats().Hits, "0 and 2 must still be cached")
	get(1)
	after := c.Stats()
	assert.Equal(t, before.Misses+1, after.Misses, "1 must have been evicted")
	assert.Equal(t, 2, after.Len)
}

func TestChannelKeyCacheRefusesLowOrderKeys(t *testing.T) {
	_, sk, _ := GenerateKey(rand.Reader)
	c := NewChannelKeyCache(&sk, 0)
	var zero PublicKey
	for range 2 {
		key, err := c.Get(&zero)
		require.ErrorIs(t, err, ErrLowOrderKey)
		assert.Equal(t, ChannelKey{}, key)
	}
	s := c.Stats()
	assert.Equal(t, KeyCacheStats{Len: 0, Size: DefaultKeyCacheSize, Misses: 2}, s)
}

// Concurrent Gets on overlapping keys (run under -race) agree with
// Precompute and never exceed the bound.
func TestChannelKeyCacheConcurrent(t *testing.T) {
	_, sk, _ := GenerateKey(rand.Reader)
	pks := newPeerKeys(t, 8)
	want := make([]ChannelKey, len(pks))
	for i := range pks {
		want[i], _ = Precompute(&pks[i], &sk)
	}
	c := NewChannelKeyCache(&sk, 5)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(pks)
				got, err := c.Get(&pks[k])
				if err != nil || got != want[k] {
					errs <- assert.AnError
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	assert.Empty(t, errs, "a concurrent Get returned a wrong key")
	s := c.Stats()
	assert.LessOrEqual(t, s.Len, 5)
	assert.Equal(t, uint64(200), s.Hits+s.Misses)
}

func BenchmarkChannelKeyCacheHit(b *testing.B) {
	_, sk, _ := GenerateKey(rand.Reader)
	pk, _, _ := GenerateKey(rand.Reader)
	c := NewChannelKeyCache(&sk, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(&pk); err != nil {
			b.Fatal(err)
		}
	}
}
