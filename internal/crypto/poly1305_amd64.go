//go:build amd64 && gc && !purego

package crypto

import (
	//lint:ignore SA1019 octez's box is NaCl crypto_box (XSalsa20-Poly1305), which needs the raw Poly1305 one-time authenticator; it is used only inside that construction, as x/crypto's own nacl/secretbox does.
	"golang.org/x/crypto/poly1305"
	"golang.org/x/sys/cpu"
)

// polyKernel names a Poly1305 implementation for long messages.
type polyKernel int

const (
	polyScalar polyKernel = iota // x/crypto's scalar assembly
	polyAVX2                     // poly1305Blocks4AVX2, four lanes
	polyAVX512                   // poly1305Blocks8AVX512, eight lanes
)

// polyVectorMin is the shortest message the lanes take: below it,
// precomputing the powers of r and adding up the lanes (over 100 ns)
// cost more than the lanes save over x/crypto's scalar assembly. On the
// Zen 5 where this was measured the eight lanes break even at 1 KiB and
// are three times faster at 64 KiB (BenchmarkPoly1305); the four AVX2
// lanes, measured on the same machine, break even near 1.2 KiB and are
// 1.15 times faster at 2 KiB, 1.7 at 64 KiB.
const (
	polyVectorMin = 1024
	polyAVX2Min   = 2048
)

// poly is the Poly1305 in use. Tests switch it to cover every path;
// nothing else writes it.
var poly = bestPoly()

func bestPoly() polyKernel {
	switch {
	case cpu.X86.HasAVX512F:
		return polyAVX512
	case cpu.X86.HasAVX2:
		return polyAVX2
	}
	return polyScalar
}

// polyScratch holds the vector lanes' tables: the powers of r and the
// lanes' accumulators, sized for the eight AVX-512 lanes (the four AVX2
// lanes use the start of each). On the stack they made a 2 KiB frame at
// the bottom of every reader and writer (see scratch).
type polyScratch struct {
	powers [90]uint64
	acc    [40]uint64
}

// polySum writes the Poly1305 tag of msg under key. ps is the vector
// lanes' scratch; it may be nil for a message shorter than
// polyVectorMin, which the lanes never take.
func polySum(out *[TagSize]byte, msg []byte, key *[32]byte, ps *polyScratch) {
	if poly == polyAVX512 && len(msg) >= polyVectorMin || poly == polyAVX2 && len(msg) >= polyAVX2Min {
		polySumVector(out, msg, key, ps)
		return
	}
	poly1305.Sum(out, msg, key)
}

// polySumVector is polySum for the messages long enough for vector lanes.
func polySumVector(out *[TagSize]byte, msg []byte, key *[32]byte, ps *polyScratch) {
	switch {
	case poly == polyAVX512 && len(msg) >= polyVectorMin:
		st := newPolyState(key)
		powers := &ps.powers
		polyPowers(powers, st.r[0], st.r[1])
		groups := len(msg) / 128
		acc := &ps.acc
		clear(acc[:])
		poly1305Blocks8AVX512(acc, &msg[0], groups, powers)
		st.h = from26(sumLanes(acc[:], 8))
		st.polyUpdate(msg[128*groups:])
		st.polyFinish(out)
	case poly == polyAVX2 && len(msg) >= polyAVX2Min:
		st := newPolyState(key)
		powers := (*[80]uint64)(ps.powers[:80])
		polyPowers4(powers, st.r[0], st.r[1])
		groups := len(msg) / 64
		acc := (*[20]uint64)(ps.acc[:20])
		clear(acc[:])
		poly1305Blocks4AVX2(acc, &msg[0], groups, powers)
		st.h = from26(sumLanes(acc[:], 4))
		st.polyUpdate(msg[64*groups:])
		st.polyFinish(out)
	default:
		poly1305.Sum(out, msg, key)
	}
}

// sumLanes adds the lanes of acc (limb j of lane l at acc[lanes*j+l]) and
// carries the sum.
func sumLanes(acc []uint64, lanes int) poly26 {
	var sum [5]uint64
	for j := range 5 {
		for _, v := range acc[lanes*j : lanes*(j+1)] {
			sum[j] += v
		}
	}
	return carry26(sum)
}
