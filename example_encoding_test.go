package p2ppool_test

import (
	"encoding/hex"
	"fmt"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/dataenc"
)

// ChatMessage is an application message. In OCaml its encoding would be
//
//	obj3 (req "from" (string' ~max_length:32))
//	     (req "seq" uint32)
//	     (req "text" (string' ~max_length:1000))
type ChatMessage struct {
	From string
	Seq  uint32
	Text string
}

// chatCodec writes and reads a ChatMessage with package dataenc, octez's
// data-encoding: one line per field each way.
var chatCodec = dataenc.Codec[ChatMessage]{
	Name: "chat",
	Read: func(r *dataenc.Reader, m *ChatMessage) {
		r.Field("from")
		m.From = r.String(32)
		r.Field("seq")
		m.Seq = r.Uint32()
		r.Field("text")
		m.Text = r.String(1000)
	},
	Append: func(dst []byte, m *ChatMessage) ([]byte, error) {
		dst = dataenc.AppendString(dst, m.From)
		dst = dataenc.AppendUint32(dst, m.Seq)
		return dataenc.AppendString(dst, m.Text), nil
	},
}

// An Encoding gives a message kind its tag and its body's encoding. With
// several kinds, Msg is an interface and each Encoding's Encode answers
// ok=false for the others; here ChatMessage is the only kind. Put the
// Encoding in a MessageConfig, and NewBasic makes a pool of ChatMessage.
func ExampleEncoding() {
	enc := p2ppool.Encoding[ChatMessage]{
		Tag:       0x1001,
		Name:      "chat",
		MaxLength: 4 + 32 + 4 + 4 + 1000, // refuse larger bodies before reading them
		Encode: func(dst []byte, m ChatMessage) ([]byte, bool, error) {
			out, err := chatCodec.Encode(dst, &m)
			return out, true, err
		},
		Decode: chatCodec.Decode, // strings are copies: nothing aliases the body
	}
	// msgs := p2ppool.MessageConfig[ChatMessage]{Encodings: []p2ppool.Encoding[ChatMessage]{enc}}
	// pool, err := p2ppool.NewBasic(msgs, cfg)

	body, _, err := enc.Encode(nil, ChatMessage{From: "alice", Seq: 7, Text: "hi"})
	fmt.Println(hex.EncodeToString(body), err)
	m, err := enc.Decode(body)
	fmt.Printf("%+v %v\n", m, err)
	_, err = enc.Decode(body[:len(body)-1])
	fmt.Println(err)
	// Output:
	// 00000005616c69636500000007000000026869 <nil>
	// {From:alice Seq:7 Text:hi} <nil>
	// dataenc: decode chat: text: truncated input
}

// CodecEncoding makes the Encoding of a one-kind message set from its
// dataenc.Codec: the tag is all it adds.
func ExampleCodecEncoding() {
	codec := chatCodec
	codec.MaxSize = 4 + 32 + 4 + 4 + 1000 // refuse larger bodies before reading them
	msgs := p2ppool.MessageConfig[ChatMessage]{
		Encodings: []p2ppool.Encoding[ChatMessage]{p2ppool.CodecEncoding(0x1001, codec)},
		ChainName: "CHAT",
	}
	enc := msgs.Encodings[0]
	body, _, err := enc.Encode(nil, ChatMessage{From: "bob", Seq: 1, Text: "yo"})
	fmt.Println(enc.Name, enc.MaxLength, hex.EncodeToString(body), err)
	m, err := enc.Decode(body)
	fmt.Printf("%+v %v\n", m, err)
	// Output:
	// chat 1044 00000003626f620000000100000002796f <nil>
	// {From:bob Seq:1 Text:yo} <nil>
}
