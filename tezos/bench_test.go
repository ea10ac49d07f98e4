package tezos

import (
	"encoding/hex"
	"testing"
)

func benchDecode(b *testing.B, tag uint16, body []byte) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeBody(tag, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBlockHeader(b *testing.B) {
	body, _ := hex.DecodeString(teztProtocolBlockHeaders["alpha"])
	benchDecode(b, TagBlockHeader, body)
}

func BenchmarkDecodeGetOperationsForBlocks(b *testing.B) {
	reqs := make([]BlockPass, MaxRequestLength)
	body, err := AppendBody(nil, GetOperationsForBlocks{reqs})
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, TagGetOperationsForBlocks, body)
}

func BenchmarkDecodeOperationsForBlocks(b *testing.B) {
	g := newGen(3)
	m := OperationsForBlocks{Path: g.path()}
	for range 50 {
		m.Operations = append(m.Operations, g.operation())
	}
	body, err := AppendBody(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, TagOperationsForBlocks, body)
}

func BenchmarkAppendBlockHeader(b *testing.B) {
	body, _ := hex.DecodeString(teztProtocolBlockHeaders["alpha"])
	m, err := DecodeBody(TagBlockHeader, body)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := AppendBody(dst[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}
