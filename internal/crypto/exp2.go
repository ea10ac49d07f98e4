package crypto

import (
	"math"
	"math/big"
	"sync"
)

// exp2Prec is the working precision of exp2, far beyond the 53 bits of a
// float64, so that rounding the result once gives the correctly rounded
// value (2^g is irrational for every non-integer rational g, so it is
// never exactly halfway between two float64s).
const exp2Prec = 320

// ln2 is log(2) to exp2Prec bits, computed once as 2·atanh(1/3)
// = 2·Σ 3^−(2k+1)/(2k+1).
var ln2 = sync.OnceValue(func() *big.Float {
	prec := uint(exp2Prec + 32)
	newF := func() *big.Float { return new(big.Float).SetPrec(prec) }
	third := newF().Quo(newF().SetInt64(1), newF().SetInt64(3))
	ninth := newF().Mul(third, third)
	sum := newF()
	power := newF().Set(third) // 3^−(2k+1)
	term := newF()
	for k := int64(0); ; k++ {
		term.Quo(power, newF().SetInt64(2*k+1))
		sum.Add(sum, term)
		if term.Sign() == 0 || term.MantExp(nil) < sum.MantExp(nil)-int(prec)-8 {
			break
		}
		power.Mul(power, ninth)
	}
	return sum.Mul(sum, newF().SetInt64(2))
})

// exp2 returns 2^e correctly rounded to the nearest float64 (ties to
// even), like glibc's pow(2, e) on which octez relies. math.Exp2 and
// math.Pow are not correctly rounded and differ from it by one ulp for
// many arguments. It is slow (big.Float) and meant for the rare
// computation of a proof-of-work target, not for hot paths.
func exp2(e float64) float64 {
	ip := math.Floor(e)
	g := e - ip // exact: 0 <= g < 1
	if g == 0 || math.IsInf(e, 0) || math.IsNaN(e) {
		return math.Ldexp(1, int(ip))
	}
	prec := uint(exp2Prec + 32)
	x := new(big.Float).SetPrec(prec).SetFloat64(g)
	x.Mul(x, ln2())

	// exp(x) = Σ x^k/k!, 0 < x < ln 2: about 70 terms for 350 bits.
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	k := new(big.Float).SetPrec(prec)
	for i := int64(1); ; i++ {
		term.Mul(term, x)
		term.Quo(term, k.SetInt64(i))
		sum.Add(sum, term)
		if term.Sign() == 0 || term.MantExp(nil) < -int(prec)-8 {
			break
		}
	}
	sum.SetMantExp(sum, int(ip))
	r := new(big.Float).SetPrec(53).SetMode(big.ToNearestEven).Set(sum)
	f, _ := r.Float64()
	return f
}
