package crypto

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// V4 proof of work (tezedge crypto/src/proof_of_work.rs).
const (
	v4PK    = "d8246d13d0270cbfff4046b6d94b05ab19920bc5ad9fb77f3e945c40b340e874"
	v4Stamp = "d1d0ebd55784bc92852d913dbf0fb5152d505b567d930fb2"
)

// allOnesBelow returns the big-endian hex of 2^(256-bits) - 1 (bits a
// multiple of 4).
func allOnesBelow(bits int) string {
	return strings.Repeat("0", bits/4) + strings.Repeat("f", 64-bits/4)
}

func TestMakePowTarget(t *testing.T) {
	tests := []struct {
		difficulty float64
		want       string // 64 hex digits, big-endian
	}{
		{0, strings.Repeat("f", 64)},
		{8, allOnesBelow(8)},
		{24, allOnesBelow(24)},
		{26, "0000003" + strings.Repeat("f", 57)},
		{202, "000000000000000000000000000000000000000000000000003fffffffffffff"},
		{203, "000000000000000000000000000000000000000000000000001fffffffffffff"},
		{255, "0000000000000000000000000000000000000000000000000000000000000001"},
		{256, strings.Repeat("0", 64)},
		// §11.1: m = 0x2d413cccfe779a, target = (m << 178) | (2^178 - 1).
		{24.5, "000000b504f333f9de6b" + strings.Repeat("f", 44)},
	}
	for _, tt := range tests {
		t.Run(big.NewFloat(tt.difficulty).String(), func(t *testing.T) {
			got, err := MakePowTarget(tt.difficulty)
			require.NoError(t, err)
			assert.Equal(t, tt.want, hex.EncodeToString(got[:]))
		})
	}
}

// Integer difficulties are exactly 2^(256-f) - 1 for every f below 202.
func TestMakePowTargetIntegers(t *testing.T) {
	for f := 0; f <= 202; f++ {
		got, err := MakePowTarget(float64(f))
		require.NoError(t, err)
		want := new(big.Int).Lsh(big.NewInt(1), uint(256-f))
		want.Sub(want, big.NewInt(1))
		assert.Equal(t, want, new(big.Int).SetBytes(got[:]), "f=%d", f)
	}
}

// Tiny fractions make 54-frac round to 54 in float64; octez then gets a
// target of 2^256 or more, which accepts everything like all ones.
func TestMakePowTargetOverflowClamps(t *testing.T) {
	got, err := MakePowTarget(1e-300)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("f", 64), hex.EncodeToString(got[:]))
}

func TestMakePowTargetRejects(t *testing.T) {
	for _, f := range []float64{math.NaN(), -1, -1e-300, 256.0000001, math.Inf(1), math.Inf(-1)} {
		_, err := MakePowTarget(f)
		assert.Error(t, err, "difficulty %v", f)
	}
}

func TestCheckPowV4(t *testing.T) {
	pk, stamp := hexPK(t, v4PK), hexNonce(t, v4Stamp)
	// Blake2b-256(pk ‖ stamp) ends with 0x25 00 00 00: as a little-endian
	// integer it is about 37.2·2^224 ≈ 2^229.22, and the target of f is
	// about 2^(256−f), so it passes up to f ≈ 26.78: 26 and 26.5, not 26.9.
	for _, tt := range []struct {
		difficulty float64
		pass       bool
	}{{0, true}, {24, true}, {24.5, true}, {26, true}, {26.5, true}, {26.9, false}, {27, false}, {256, false}} {
		target, err := MakePowTarget(tt.difficulty)
		require.NoError(t, err)
		assert.Equal(t, tt.pass, CheckPow(&pk, &stamp, &target), "difficulty %v", tt.difficulty)
	}

	// A different stamp fails 24.
	target24, _ := MakePowTarget(24)
	other := stamp
	other.Increment()
	assert.False(t, CheckPow(&pk, &other, &target24))
}

// The hash is read as a little-endian integer (octez Z.of_bits).
func TestPowLittleEndian(t *testing.T) {
	tests := []struct{ hash, decimal string }{
		{"65813cba342745fb8870cf192efd7abf5a7f7c0bb4852d33bcb8e8a521c88561", "44110718228612227164362334473137928594922343768065507925100594771156402995557"},
		{"6a9b7e0243f052c67124d54abd23991734e7dad8a53ab7d82fd96b4e0b000000", "304818138341606080779209476504996542811599673553028925663939963820906"},
	}
	for _, tt := range tests {
		h := [32]byte(unhexN(t, tt.hash, 32))
		v, ok := new(big.Int).SetString(tt.decimal, 10)
		require.True(t, ok)
		// accepts(h) must hold exactly for targets >= v.
		var at, below PowTarget
		v.FillBytes(at[:])
		new(big.Int).Sub(v, big.NewInt(1)).FillBytes(below[:])
		assert.True(t, at.accepts(&h), "target = value")
		assert.False(t, below.accepts(&h), "target = value - 1")
	}
}

func TestCheckPowDoesNotAllocate(t *testing.T) {
	pk, stamp := hexPK(t, v4PK), hexNonce(t, v4Stamp)
	target, _ := MakePowTarget(24)
	allocs := testing.AllocsPerRun(1000, func() {
		if !CheckPow(&pk, &stamp, &target) {
			panic("V4 must pass")
		}
	})
	assert.Zero(t, allocs)
}

func TestSearchPow(t *testing.T) {
	pk, _, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, tt := range []struct {
		difficulty float64
		workers    int
	}{{0, 1}, {8, 1}, {12, 0}, {12.5, 3}} {
		target, err := MakePowTarget(tt.difficulty)
		require.NoError(t, err)
		var calls []uint64
		stamp, err := SearchPow(context.Background(), &pk, &target, tt.workers, func(n uint64) { calls = append(calls, n) })
		require.NoError(t, err, "difficulty %v", tt.difficulty)
		assert.True(t, CheckPow(&pk, &stamp, &target), "difficulty %v", tt.difficulty)
		require.NotEmpty(t, calls, "progress is called at least once at the end")
		assert.NotZero(t, calls[len(calls)-1])
		for i := 1; i < len(calls); i++ {
			assert.GreaterOrEqual(t, calls[i], calls[i-1], "attempts never decrease")
		}
	}
}

func TestSearchPowNilProgress(t *testing.T) {
	pk, _, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	target, _ := MakePowTarget(10)
	stamp, err := SearchPow(context.Background(), &pk, &target, 2, nil)
	require.NoError(t, err)
	assert.True(t, CheckPow(&pk, &stamp, &target))
}

func TestSearchPowCancel(t *testing.T) {
	pk, _, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	target, _ := MakePowTarget(200) // never found in a test's lifetime

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var mu sync.Mutex // progress is never concurrent; the lock proves the race detector agrees
	var last uint64
	calls := 0
	start := time.Now()
	_, err = SearchPow(ctx, &pk, &target, 0, func(n uint64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		last = n
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "cancellation must be prompt")
	assert.GreaterOrEqual(t, calls, 2, "progress roughly every 100ms")
	assert.NotZero(t, last)

	// An already cancelled context returns at once with its error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = SearchPow(ctx2, &pk, &target, 2, nil)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

func BenchmarkCheckPow(b *testing.B) {
	pk, stamp := hexPK(b, v4PK), hexNonce(b, v4Stamp)
	target, _ := MakePowTarget(26)
	b.ReportAllocs()
	for b.Loop() {
		CheckPow(&pk, &stamp, &target)
		stamp.Increment()
	}
}

// BenchmarkSearchPow measures one worker's search loop, in stamps per op.
func BenchmarkSearchPow(b *testing.B) {
	pk, stamp := hexPK(b, v4PK), hexNonce(b, v4Stamp)
	target, _ := MakePowTarget(256) // only the zero hash passes: search never stops early
	b.ReportAllocs()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop after the first batch
	var attempts atomic.Uint64
	var n uint64
	for b.Loop() {
		searchFrom(ctx, &pk, &stamp, &target, &attempts)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*powBatch), "ns/stamp")
}
