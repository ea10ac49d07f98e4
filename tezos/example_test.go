package tezos_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/p2ppool/p2ppool/tezos"
)

// The first message of the recorded carthagenet session, in its P2P
// envelope: size 6, tag 0x10, then the body.
func ExampleDecodeBody() {
	raw, _ := hex.DecodeString("0000000600109caecab9")
	m, err := tezos.DecodeBody(0x10, raw[6:])
	if err != nil {
		panic(err)
	}
	fmt.Printf("%T %v\n", m, m.(tezos.GetCurrentBranch).ChainID)

	body, _ := tezos.AppendBody(nil, tezos.GetPredecessorHeader{Offset: 8})
	fmt.Println(hex.EncodeToString(body))
	// Output:
	// tezos.GetCurrentBranch NetXjD3HPJJjmcd
	// 000000000000000000000000000000000000000000000000000000000000000000000008
}

// Hashes read and write as octez prints them.
func ExampleBlockHash_MarshalText() {
	var v struct {
		Head tezos.BlockHash `json:"head"`
	}
	err := json.Unmarshal([]byte(`{"head":"BKpbfCvh777DQHnXjU2sqHvVUNZ7dBAdqEfKkdw8EGSkD9LSYXb"}`), &v)
	fmt.Println(hex.EncodeToString(v.Head[:4]), err)
	// Output: 0e5751c0 <nil>
}

// MessageConfig plugs the whole message set into a pool.
func ExampleMessageConfig() {
	mc := tezos.MessageConfig("TEZOS_MAINNET")
	fmt.Println(len(mc.Encodings), mc.Encodings[0].Name, mc.DistributedDBVersions)
	// Output: 19 Get_current_branch [0 1 2]
}
