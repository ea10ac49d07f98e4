package crypto

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	//lint:ignore SA1019 octez's box is NaCl crypto_box (XSalsa20-Poly1305), which needs the raw Poly1305 one-time authenticator; it is used only inside that construction, as x/crypto's own nacl/secretbox does.
	"golang.org/x/crypto/poly1305"
)

// polyKeys are random keys plus the extremes: the largest clamped r with
// the largest s, and r = 1-ish with s = 0.
func polyKeys(rng *rand.Rand, n int) [][32]byte {
	keys := make([][32]byte, n)
	for i := range keys {
		fill(rng, keys[i][:])
	}
	var ones, small [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	small[0] = 1
	return append(keys, ones, small)
}

// polyLengths covers every length up to 4 KiB, past the vector thresholds
// and every residue mod 128 and 16, then a spread to a full chunk.
func polyLengths() []int {
	var ls []int
	for n := 0; n <= 4096; n++ {
		ls = append(ls, n)
	}
	for n := 4097; n <= 1<<16; n += 997 {
		ls = append(ls, n)
	}
	return append(ls, 1<<16-TagSize-1, 1<<16)
}

// TestPolySum compares polySum on every path of this CPU (x/crypto's
// scalar code, four AVX2 lanes, eight AVX-512 lanes), and the scalar
// polyState alone, with x/crypto's poly1305.Sum on random and all-ones
// messages.
func TestPolySum(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl, func(t *testing.T) {
			useImplementation(t, impl)
			testPolySum(t)
		})
	}
}

func testPolySum(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	lengths := polyLengths()
	random := make([]byte, 1<<16)
	fill(rng, random)
	ones := bytes.Repeat([]byte{0xff}, 1<<16)
	// One scratch for every call, dirty from the start: each call must
	// overwrite or clear what it reads of it.
	ps := dirtyPolyScratch()
	for ki, key := range polyKeys(rng, 3) {
		for _, msgs := range [][]byte{random, ones} {
			for _, n := range lengths {
				if ki > 0 && n > 4096 && n%7 != 0 {
					continue // the long spread once per key is enough
				}
				msg := msgs[:n]
				var want, got, scalar [TagSize]byte
				poly1305.Sum(&want, msg, &key)
				polySum(&got, msg, &key, ps)
				require.Equal(t, want, got, "polySum, key %d length %d", ki, n)
				st := newPolyState(&key)
				st.polyUpdate(msg)
				st.polyFinish(&scalar)
				require.Equal(t, want, scalar, "scalar, key %d length %d", ki, n)
			}
		}
	}
}

// The table of powers: r^8 and the lane powers, and five times each, must
// be the right values mod p with limbs small enough for the assembly's
// bounds (below 2^27, five times that below 2^30).
func TestPolyPowers(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{8}))
	for _, key := range polyKeys(rng, 50) {
		st := newPolyState(&key)
		r := value26(to26(st.r[0], st.r[1], 0))
		var tab [90]uint64
		polyPowers(&tab, st.r[0], st.r[1])
		check := func(off int, stride int, lane int, exp int64) {
			t.Helper()
			var l, l5 poly26
			for j := range 5 {
				l[j] = tab[off+stride*j+lane]
				require.Less(t, l[j], uint64(1<<27))
			}
			want := new(big.Int).Exp(r, big.NewInt(exp), polyP)
			require.Equal(t, want, mod26(value26(l)), "r^%d", exp)
			if off == 0 || off == 10 {
				s := 5
				if off == 10 {
					s = 40
				}
				for j := 1; j < 5; j++ {
					l5[j] = tab[off+s+stride*j+lane]
					require.Equal(t, 5*l[j], l5[j], "5*r^%d limb %d", exp, j)
				}
			}
		}
		check(0, 1, 0, 8)
		for lane, b := range [8]int{0, 4, 1, 5, 2, 6, 3, 7} {
			check(10, 8, lane, int64(8-b))
		}
	}
}

func TestPolyPowers4(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{11}))
	for _, key := range polyKeys(rng, 50) {
		st := newPolyState(&key)
		r := value26(to26(st.r[0], st.r[1], 0))
		var tab [80]uint64
		polyPowers4(&tab, st.r[0], st.r[1])
		for lane := range 4 {
			for _, tc := range []struct {
				off int
				exp int64
			}{{0, 4}, {40, int64(4 - [4]int{0, 2, 1, 3}[lane])}} {
				var l poly26
				for j := range 5 {
					l[j] = tab[tc.off+4*j+lane]
					require.Less(t, l[j], uint64(1<<27))
					require.Equal(t, 5*l[j], tab[tc.off+20+4*j+lane], "5*r^%d limb %d", tc.exp, j)
				}
				want := new(big.Int).Exp(r, big.NewInt(tc.exp), polyP)
				require.Equal(t, want, mod26(value26(l)), "r^%d lane %d", tc.exp, lane)
			}
		}
	}
}

// carry26 and from26 keep the value of limbs as large as the lane sums.
func TestCarry26(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{9}))
	for range 1000 {
		var d [5]uint64
		for i := range d {
			d[i] = rng.Uint64() >> 30 // below 2^34, past eight lanes of 2^27
		}
		c := carry26(d)
		require.Equal(t, mod26(value26(poly26(d))), mod26(value26(c)))
		h := from26(c)
		require.LessOrEqual(t, h[2], uint64(7))
		v := new(big.Int).SetUint64(h[2])
		v.Lsh(v, 64).Add(v, new(big.Int).SetUint64(h[1]))
		v.Lsh(v, 64).Add(v, new(big.Int).SetUint64(h[0]))
		require.Equal(t, value26(c), v)
	}
}
