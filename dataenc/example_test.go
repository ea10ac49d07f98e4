package dataenc_test

import (
	"encoding/hex"
	"fmt"

	"github.com/p2ppool/p2ppool/dataenc"
)

// Peer is an application value; in OCaml its encoding would be
//
//	obj4 (req "name" (string' ~max_length:32))
//	     (req "port" uint16)
//	     (opt "score" int32)
//	     (req "tags" (list ~max_length:8 string))
type Peer struct {
	Name  string
	Port  uint16
	Score *int32
	Tags  []string
}

// peerCodec is the Go counterpart: one line per field each way.
var peerCodec = dataenc.Codec[Peer]{
	Name: "peer",
	Read: func(r *dataenc.Reader, p *Peer) {
		r.Field("name")
		p.Name = r.String(32)
		r.Field("port")
		p.Port = r.Uint16()
		r.Field("score")
		if r.Opt() {
			s := r.Int32()
			p.Score = &s
		}
		r.Field("tags")
		p.Tags = dataenc.List(r, 8, dataenc.NoLimit, func(r *dataenc.Reader) string { return r.String(dataenc.NoLimit) })
	},
	Append: func(dst []byte, p *Peer) ([]byte, error) {
		dst = dataenc.AppendString(dst, p.Name)
		dst = dataenc.AppendUint16(dst, p.Port)
		dst = dataenc.AppendOpt(dst, p.Score != nil)
		if p.Score != nil {
			dst = dataenc.AppendInt32(dst, *p.Score)
		}
		return dataenc.AppendList(dst, p.Tags, 8, dataenc.AppendString)
	},
}

func Example() {
	score := int32(-7)
	b, err := peerCodec.Encode(nil, &Peer{Name: "alice", Port: 9732, Score: &score, Tags: []string{"eu"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(hex.EncodeToString(b))

	p, err := peerCodec.Decode(b)
	fmt.Println(p.Name, p.Port, *p.Score, p.Tags, err)

	_, err = peerCodec.Decode(b[:len(b)-1])
	fmt.Println(err)
	// Output:
	// 00000005616c6963652604fffffffff900000006000000026575
	// alice 9732 -7 [eu] <nil>
	// dataenc: decode peer: tags: truncated input
}
