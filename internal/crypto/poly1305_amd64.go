//go:build amd64 && gc && !purego

package crypto

import (
	"golang.org/x/crypto/poly1305"
	"golang.org/x/sys/cpu"
)

// polyVectorMin is the shortest message the eight-lane Poly1305 takes:
// below it, precomputing r^2..r^8 and adding up the lanes (about 180 ns
// on the Zen 5 where this was measured) cost more than the lanes save
// over x/crypto's scalar assembly; at 1 KiB the two break even, at 64 KiB
// the lanes are three times faster (BenchmarkPoly1305).
const polyVectorMin = 1024

// usePolyAVX512 selects poly1305Blocks8AVX512 for long messages. Tests
// switch it off to cover the scalar path; nothing else writes it.
var usePolyAVX512 = cpu.X86.HasAVX512F

// polySum writes the Poly1305 tag of msg under key.
func polySum(out *[TagSize]byte, msg []byte, key *[32]byte) {
	if !usePolyAVX512 || len(msg) < polyVectorMin {
		poly1305.Sum(out, msg, key)
		return
	}
	st := newPolyState(key)
	var powers [90]uint64
	polyPowers(&powers, st.r[0], st.r[1])
	groups := len(msg) / 128
	var acc [40]uint64
	poly1305Blocks8AVX512(&acc, &msg[0], groups, &powers)
	var sum [5]uint64
	for j := range 5 {
		for l := range 8 {
			sum[j] += acc[8*j+l]
		}
	}
	st.h = from26(carry26(sum))
	st.polyUpdate(msg[128*groups:])
	st.polyFinish(out)
}
