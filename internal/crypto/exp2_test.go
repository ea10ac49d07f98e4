package crypto

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExp2CorrectlyRounded(t *testing.T) {
	tests := []struct {
		difficulty float64
		m          int64 // int64(2^(54 - frac(difficulty)))
	}{
		// Values of glibc 2.36 pow, which octez's OCaml ** calls.
		{24.5, 0x2d413cccfe779a}, // math.Pow gives ...98
		{0.5, 0x2d413cccfe779a},
		{24.1, 0x3bb6d0022f5614},
		{24.3, 0x33fbf1799ca698},
		{25.7, 0x276588f7ff063c},
		{26.25, 0x35d13f32b5a75a},
		{255.9, 0x224bf7dc4a0ca2},
		// glibc's pow is not correctly rounded everywhere: here the true
		// value is 0.50013 ulp above ...88, and glibc 2.36 (FMA variant)
		// returns ...88. We keep the correctly rounded ...8a.
		{0.296, 0x3420e4546ecc8a},
		// 54 - frac rounds to 54 in float64.
		{3.0000000000000004, 1 << 54},
	}
	for _, tt := range tests {
		_, frac := math.Modf(tt.difficulty)
		assert.Equal(t, tt.m, int64(exp2(54-frac)), "difficulty %v", tt.difficulty)
	}
}

// exp2 must agree with exact powers of two and stay within an ulp of
// math.Exp2 (which is accurate to about one ulp) elsewhere.
func TestExp2Sweep(t *testing.T) {
	for _, e := range []float64{-3, 0, 1, 53, 54, 100} {
		assert.Equal(t, math.Ldexp(1, int(e)), exp2(e))
	}
	for k := 1; k < 1000; k += 7 {
		e := 54 - float64(k)/1000
		got, approx := exp2(e), math.Exp2(e)
		assert.LessOrEqual(t, math.Abs(got-approx), 2.0, "e=%v", e) // 1 ulp = 2 in [2^53, 2^54)
	}
}
