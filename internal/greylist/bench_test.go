package greylist

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func benchAddrs(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(99, 100))
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = randAddr(r)
	}
	return out
}

func newDefaultBloom(b *testing.B) *Bloom {
	f, err := NewBloom(DefaultIPGreylistSizeKiB)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkBloomAdd(b *testing.B) {
	f := newDefaultBloom(b)
	addrs := benchAddrs(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Add(addrs[i&1023])
		i++
	}
}

func BenchmarkBloomContains(b *testing.B) {
	f := newDefaultBloom(b)
	addrs := benchAddrs(2048)
	for _, a := range addrs[:1024] {
		f.Add(a)
	}
	for _, tc := range []struct {
		name string
		off  int
	}{{"hit", 0}, {"miss", 1024}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.Contains(addrs[tc.off+i&1023])
				i++
			}
		})
	}
}

// BenchmarkBloomCountdown measures one full pass over the 2^23 cells of the
// default 2048 KiB filter (ns/op = ns per pass).
//
//   - sparse: 2048 addresses greylisted (the display FIFO capacity), so
//     almost every word is zero;
//   - dense: every cell non-zero (worst case);
//   - octez-naive: the per-cell peek/poke loop of bloomer.ml, transliterated,
//     on the dense filter, for comparison.
func BenchmarkBloomCountdown(b *testing.B) {
	b.Run("empty", func(b *testing.B) {
		f := newDefaultBloom(b)
		b.ReportAllocs()
		for b.Loop() {
			f.Countdown()
		}
	})
	b.Run("sparse", func(b *testing.B) {
		f := newDefaultBloom(b)
		addrs := benchAddrs(2048)
		b.ReportAllocs()
		b.SetBytes(int64(f.SizeBytes()))
		i := 0
		for b.Loop() {
			if i%MaxCountdown == 0 {
				b.StopTimer()
				for _, a := range addrs {
					f.Add(a)
				}
				b.StartTimer()
			}
			f.Countdown()
			i++
		}
	})
	b.Run("dense", func(b *testing.B) {
		f := newDefaultBloom(b)
		b.ReportAllocs()
		b.SetBytes(int64(f.SizeBytes()))
		i := 0
		for b.Loop() {
			if i%MaxCountdown == 0 {
				b.StopTimer()
				for j := range f.nwords {
					setWord(f, j, ^uint64(0))
				}
				b.StartTimer()
			}
			f.Countdown()
			i++
		}
	})
	b.Run("octez-naive", func(b *testing.B) {
		ref := newRefBloomer(23)
		b.SetBytes(int64(len(ref.filter)))
		i := 0
		for b.Loop() {
			if i%MaxCountdown == 0 {
				b.StopTimer()
				for j := range ref.filter {
					ref.filter[j] = 0xFF
				}
				b.StartTimer()
			}
			ref.countdown()
			i++
		}
	})
}

func BenchmarkBloomFillRatio(b *testing.B) {
	f := newDefaultBloom(b)
	for j := range f.nwords {
		setWord(f, j, 0x0102030405060708*uint64(j&1))
	}
	b.ReportAllocs()
	b.SetBytes(int64(f.SizeBytes()))
	for b.Loop() {
		f.FillRatio()
	}
}

func BenchmarkAddrGreylistAdd(b *testing.B) {
	g, err := NewAddrGreylist(DefaultIPGreylistSizeKiB)
	if err != nil {
		b.Fatal(err)
	}
	addrs := benchAddrs(4096) // twice the FIFO capacity: every add evicts
	now := time.Unix(1e9, 0)
	for _, a := range addrs {
		g.Add(a, now)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Add(addrs[i&4095], now)
		i++
	}
}

func BenchmarkPeerSetAdd(b *testing.B) {
	for _, n := range []int{DefaultPeerGreylistSize, 4 * DefaultPeerGreylistSize} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			s, err := NewPeerSet[[32]byte](DefaultPeerGreylistSize)
			if err != nil {
				b.Fatal(err)
			}
			keys := make([][32]byte, n)
			for i := range keys {
				keys[i][0], keys[i][1] = byte(i), byte(i>>8)
			}
			for _, k := range keys {
				s.Add(k)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Add(keys[i%n])
				i++
			}
		})
	}
}

func BenchmarkPeerSetContains(b *testing.B) {
	s, err := NewPeerSet[[32]byte](DefaultPeerGreylistSize)
	if err != nil {
		b.Fatal(err)
	}
	var k [32]byte
	for i := range DefaultPeerGreylistSize {
		k[0], k[1] = byte(i), byte(i>>8)
		s.Add(k)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k[0], k[1] = byte(i), byte(i>>9)
		s.Contains(k)
		i++
	}
}
