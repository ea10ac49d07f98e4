package crypto

import "math/big"

// Big-number helpers for checking the radix-2^26 arithmetic.

var polyP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 130), big.NewInt(5))

func value26(l poly26) *big.Int {
	v := new(big.Int)
	for i := 4; i >= 0; i-- {
		v.Lsh(v, 26)
		v.Add(v, new(big.Int).SetUint64(l[i]))
	}
	return v
}

func mod26(v *big.Int) *big.Int { return new(big.Int).Mod(v, polyP) }
