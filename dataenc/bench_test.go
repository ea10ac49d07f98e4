package dataenc

import (
	"math/big"
	"testing"
)

func BenchmarkReaderFixedFields(b *testing.B) {
	in := AppendBytes(AppendInt64(AppendUint16(make([]byte, 32), 7), -1), make([]byte, 64))
	var hash [32]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := MakeReader(in)
		r.Field("hash")
		r.FixedInto(hash[:])
		r.Field("port")
		_ = r.Uint16()
		r.Field("time")
		_ = r.Int64()
		r.Field("data")
		_ = r.Bytes(NoLimit)
		if err := r.Finish("fixed"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList(b *testing.B) {
	items := make([]uint16, 10)
	in, err := AppendList(nil, items, 10, AppendUint16)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := MakeReader(in)
		_ = List(&r, 10, 20, readU16)
		if err := r.Finish("list"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZ(b *testing.B) {
	v, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	in := AppendZ(nil, v)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := MakeReader(in)
		_ = r.Z(NoLimit)
		if err := r.Finish("z"); err != nil {
			b.Fatal(err)
		}
	}
}
