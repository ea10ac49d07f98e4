package wire

import (
	"bytes"
	"net/netip"
	"testing"
)

var benchSink Message

func BenchmarkDecodeAppMessage(b *testing.B) {
	in := AppendAppMessage(nil, 0x31, bytes.Repeat([]byte{7}, 100))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		m, err := DecodeMessage(in)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = m
	}
}

func BenchmarkAppendAppMessage(b *testing.B) {
	m := Message{Tag: 0x31, Body: bytes.Repeat([]byte{7}, 100)}
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(m.Size()))
	for b.Loop() {
		dst = m.Append(dst[:0])
	}
}

func BenchmarkBeginEndMessage(b *testing.B) {
	body := bytes.Repeat([]byte{7}, 100)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out, start := BeginMessage(dst[:0], 0x31)
		out = append(out, body...)
		var err error
		if dst, err = EndMessage(out, start); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAdvertise(b *testing.B) {
	var pts []netip.AddrPort
	for i := range 50 {
		pts = append(pts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 9732))
	}
	m := Message{Tag: TagAdvertise, Points: pts}
	in := m.Append(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		m, err := DecodeMessage(in)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = m
	}
}

func BenchmarkDecodeConnectionMessage(b *testing.B) {
	body := unhex(b, v11Sent)[2:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeConnectionMessage(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePointIPv6(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePoint("[fe80::e828:209d:20e:c0ae]:375"); err != nil {
			b.Fatal(err)
		}
	}
}
