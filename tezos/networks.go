package tezos

import (
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

// ChainIDOf derives a chain's identifier from its genesis block hash, as
// octez Chain_id.of_block_hash: the first 4 bytes of the Blake2B-256 of
// the hash.
func ChainIDOf(genesis BlockHash) ChainID {
	sum := crypto.Blake2b256(genesis[:])
	var id ChainID
	copy(id[:], sum[:ChainIDSize])
	return id
}

// Network is a public Tezos network as octez's node knows it built in
// (src/bin_node/node_config_file.ml, blockchain_network_*): the chain
// name announced in connection messages and the genesis.
type Network struct {
	// Alias is octez's --network name ("mainnet", "ghostnet").
	Alias string
	// ChainName is announced in every connection message.
	ChainName string
	// Genesis is the genesis block's hash. octez fixes it by
	// configuration: it is not the hash of the genesis header.
	Genesis BlockHash
	// Time is the genesis timestamp.
	Time time.Time
	// Protocol is the genesis protocol.
	Protocol ProtocolHash
	// Context is the context hash of the genesis block, the commit of
	// the genesis protocol's initial context; valid only if
	// ContextKnown, since it depends on the genesis parameters and is not
	// in octez's network table.
	Context      ContextHash
	ContextKnown bool
}

// ChainID is the network's chain identifier, derived from Genesis.
func (n *Network) ChainID() ChainID { return ChainIDOf(n.Genesis) }

// GenesisHeader is the genesis block header octez stores
// (Block_repr.create_genesis_block): level 0, protocol level 0, its own
// hash as predecessor, the genesis time, no validation pass, the empty
// operations hash, an empty fitness, the genesis context and no protocol
// data. ok is false when the context hash is not known.
func (n *Network) GenesisHeader() (h BlockHeader, ok bool) {
	if !n.ContextKnown {
		return BlockHeader{}, false
	}
	return BlockHeader{
		Shell: ShellHeader{
			Predecessor:    n.Genesis,
			Timestamp:      n.Time.Unix(),
			OperationsHash: OperationsHashOf(nil),
			Context:        n.Context,
		},
	}, true
}

// Networks returns the built-in table of public networks: mainnet and
// ghostnet, the long-lived testnet. Short-lived protocol testnets come
// and go with each protocol and are left out; give their values
// explicitly.
func Networks() []Network {
	return []Network{
		{
			Alias:     "mainnet",
			ChainName: "TEZOS_MAINNET",
			Genesis:   mustBlockHash("BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2"),
			Time:      time.Date(2018, 6, 30, 16, 7, 32, 0, time.UTC),
			Protocol:  mustProtocolHash("Ps9mPmXaRzmzk35gbAYNCAw6UXdE2qoABTHbN2oEEc1qM7CwT9P"),
			// The context of mainnet's block 0, as its header shows.
			Context:      mustContextHash("CoV8SQumiVU9saiu3FVNeDNewJaJH8yWdsGF3WLdsRr2P9S7MzCj"),
			ContextKnown: true,
		},
		{
			Alias:     "ghostnet",
			ChainName: "TEZOS_ITHACANET_2022-01-25T15:00:00Z",
			Genesis:   mustBlockHash("BLockGenesisGenesisGenesisGenesisGenesis1db77eJNeJ9"),
			Time:      time.Date(2022, 1, 25, 15, 0, 0, 0, time.UTC),
			Protocol:  mustProtocolHash("Ps9mPmXaRzmzk35gbAYNCAw6UXdE2qoABTHbN2oEEc1qM7CwT9P"),
		},
	}
}

// LookupNetwork finds a built-in network by chain name or alias.
func LookupNetwork(name string) (Network, bool) {
	for _, n := range Networks() {
		if n.ChainName == name || n.Alias == name {
			return n, true
		}
	}
	return Network{}, false
}

func mustBlockHash(s string) BlockHash {
	h, err := ParseBlockHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

func mustProtocolHash(s string) ProtocolHash {
	h, err := ParseProtocolHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

func mustContextHash(s string) ContextHash {
	h, err := ParseContextHash(s)
	if err != nil {
		panic(err)
	}
	return h
}
