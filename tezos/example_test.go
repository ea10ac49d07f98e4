package tezos_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"

	"github.com/p2ppool/p2ppool"
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

// ExampleNewShell gives each connection of a pool a Session: it asks for
// the branch of the chain first, as octez does, and then answers and
// gates each distributed-DB message as octez's p2p_reader.ml.
func ExampleNewShell() {
	mainnet, _ := tezos.LookupNetwork("mainnet")
	genesis, _ := mainnet.GenesisHeader()
	shell, err := tezos.NewShell(tezos.ShellConfig{
		Chains: []tezos.ChainID{mainnet.ChainID()},
		Store:  genesisStore{hash: mainnet.Genesis, header: genesis},
	})
	if err != nil {
		log.Fatal(err)
	}
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(mainnet.ChainName), p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	pool.Conns().OnNew(func(c *p2ppool.BasicConnection[tezos.Message]) {
		go func() { // a real program waits for its readers
			s := shell.Attach(c)
			if s.Start(c.Context()) != nil {
				return
			}
			for {
				m, err := c.Read(c.Context())
				if err != nil {
					return
				}
				s.Handle(m)
			}
		}()
	})
	fmt.Println(shell.Budget(tezos.TagGetCurrentBranch))
	// Output:
	// Get_current_branch (0.25/s burst 2)
}

// genesisStore is a tezos.Store that has only the genesis block.
type genesisStore struct {
	hash   tezos.BlockHash
	header tezos.BlockHeader
}

func (s genesisStore) Head(tezos.ChainID) (tezos.BlockHeader, bool) { return s.header, true }

func (s genesisStore) Header(h tezos.BlockHash) (tezos.BlockHeader, bool) {
	return s.header, h == s.hash
}
