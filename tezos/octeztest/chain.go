package octeztest

import (
	"encoding/binary"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/tezos"
)

// Passes is the number of validation passes of every block of a Chain
// but genesis, as in octez's protocols since Tenderbake (consensus,
// governance, anonymous, manager).
const Passes = 4

// BlockInterval is the time between two blocks of a Chain.
const BlockInterval = time.Minute

// GenesisTime is the genesis timestamp of every Chain: early enough that
// 100,000 blocks later is still before the clock of a testing/synctest
// bubble (2000-01-01), so that no header is in the future for a reader
// that checks timestamps (octez Clock_drift, p2p_reader.ml 403, 463).
var GenesisTime = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)

// Chain is a chain of block headers that a Peer serves: Headers[i] is the
// block at level i and Hashes[i] its hash. It is a plain value: build it
// with NewChain, derive lying variants with its With methods, and do not
// change it once a Peer serves it.
type Chain struct {
	// Name is the chain name announced in connection messages.
	Name string
	// ID is the chain id, derived from the genesis hash (octez
	// Chain_id.of_block_hash).
	ID tezos.ChainID
	// Headers are the blocks, genesis first.
	Headers []tezos.BlockHeader
	// Hashes are the blocks' hashes. Hashes[0] is the genesis hash,
	// which, as in octez (block_repr.ml create_genesis_block), is fixed
	// by configuration and is not the hash of Headers[0]; every other is
	// the hash of its header.
	Hashes []tezos.BlockHash
	// Operations are each block's operations by validation pass:
	// Operations[i][p] is pass p of block i; genesis has none. Each
	// header's OperationsHash is the Merkle root over them.
	Operations [][][]tezos.Operation
	// Checkpoint is the level of the block answered to Get_checkpoint (a
	// fresh octez node's checkpoint is its genesis).
	Checkpoint int

	// index maps a hash to its level.
	index map[tezos.BlockHash]int
}

// NewChain builds a valid chain of length blocks (genesis included; at
// least 1) for chain name: its genesis hash is the Blake2B-256 of
// "octeztest genesis " and the name, every later header links to its
// predecessor's hash, is one level above it, one BlockInterval later, of
// protocol level 1 (genesis is at 0, as in octez), with Passes validation
// passes whose operations hash to its OperationsHash. Every value is
// derived from the name and the level: two calls give the same chain.
func NewChain(name string, length int) *Chain {
	genesis := tezos.BlockHash(crypto.Blake2b256([]byte("octeztest genesis " + name)))
	return newChain(name, genesis, nil, length)
}

// NewNetworkChain is NewChain for a built-in network (tezos.Networks):
// its chain name, genesis hash and so chain id, and its genesis header
// when its context is known (tezos.Network.GenesisHeader), so that a
// program announcing the network talks to the peer; the blocks above
// genesis are synthetic, as NewChain's.
func NewNetworkChain(n tezos.Network, length int) *Chain {
	var g *tezos.BlockHeader
	if h, ok := n.GenesisHeader(); ok {
		g = &h
	}
	return newChain(n.ChainName, n.Genesis, g, length)
}

func newChain(name string, genesis tezos.BlockHash, genesisHeader *tezos.BlockHeader, length int) *Chain {
	if length < 1 {
		panic("octeztest: a chain has at least its genesis")
	}
	c := &Chain{
		Name:       name,
		ID:         tezos.ChainIDOf(genesis),
		Headers:    make([]tezos.BlockHeader, length),
		Hashes:     make([]tezos.BlockHash, length),
		Operations: make([][][]tezos.Operation, length),
	}
	c.Headers[0] = tezos.BlockHeader{Shell: tezos.ShellHeader{
		Predecessor:    genesis,
		Timestamp:      GenesisTime.Unix(),
		OperationsHash: tezos.OperationsHashOf(nil),
		Context:        contextHash(name, 0),
	}, ProtocolData: []byte{}}
	if genesisHeader != nil {
		c.Headers[0] = *genesisHeader
	}
	c.Hashes[0] = genesis
	for i := 1; i < length; i++ {
		c.Operations[i] = operations(name, i, genesis)
		c.Headers[i] = c.header(i, int32(i), c.Hashes[i-1])
		c.Hashes[i] = mustHash(&c.Headers[i])
	}
	c.reindex()
	return c
}

// header builds block i's header at level, linked to pred.
func (c *Chain) header(i int, level int32, pred tezos.BlockHash) tezos.BlockHeader {
	lists := make([]tezos.OperationListHash, len(c.Operations[i]))
	for p, ops := range c.Operations[i] {
		hs := make([]tezos.OperationHash, len(ops))
		for k := range ops {
			hs[k] = ops[k].Hash()
		}
		lists[p] = tezos.OperationListHashOf(hs)
	}
	return tezos.BlockHeader{
		Shell: tezos.ShellHeader{
			Level:            level,
			Proto:            1,
			Predecessor:      pred,
			Timestamp:        GenesisTime.Add(time.Duration(i) * BlockInterval).Unix(),
			ValidationPasses: uint8(len(lists)),
			OperationsHash:   tezos.OperationsHashOf(lists),
			// Tenderbake's fitness shape: version 02, then the level.
			Fitness: [][]byte{{0x02}, binary.BigEndian.AppendUint32(nil, uint32(level)), {}, {0xff, 0xff, 0xff, 0xff}, {0, 0, 0, 0}},
			Context: contextHash(c.Name, i),
		},
		ProtocolData: binary.BigEndian.AppendUint64([]byte("octeztest"), uint64(i)),
	}
}

// operations gives block i's operations: pass p holds (i+p)%3 of them.
func operations(name string, i int, branch tezos.BlockHash) [][]tezos.Operation {
	passes := make([][]tezos.Operation, Passes)
	for p := range passes {
		passes[p] = []tezos.Operation{}
		for k := range (i + p) % 3 {
			data := binary.BigEndian.AppendUint32([]byte(name), uint32(i))
			data = append(data, byte(p), byte(k))
			passes[p] = append(passes[p], tezos.Operation{Branch: branch, Data: data})
		}
	}
	return passes
}

func contextHash(name string, i int) tezos.ContextHash {
	return tezos.ContextHash(crypto.Blake2b256(binary.BigEndian.AppendUint64([]byte("octeztest context "+name), uint64(i))))
}

func mustHash(h *tezos.BlockHeader) tezos.BlockHash {
	hash, err := h.Hash()
	if err != nil {
		panic("octeztest: " + err.Error())
	}
	return hash
}

func (c *Chain) reindex() {
	c.index = make(map[tezos.BlockHash]int, len(c.Hashes))
	for i, h := range c.Hashes {
		c.index[h] = i
	}
}

// Head is the last block's index, hash and header.
func (c *Chain) Head() (int, tezos.BlockHash, tezos.BlockHeader) {
	i := len(c.Headers) - 1
	return i, c.Hashes[i], c.Headers[i]
}

// Genesis is the genesis block hash.
func (c *Chain) Genesis() tezos.BlockHash { return c.Hashes[0] }

// Find returns the index of the block of hash h.
func (c *Chain) Find(h tezos.BlockHash) (int, bool) {
	i, ok := c.index[h]
	return i, ok
}

// clone copies c's slices (headers are rebuilt by the callers, so their
// own byte slices may be shared).
func (c *Chain) clone() *Chain {
	d := *c
	d.Headers = append([]tezos.BlockHeader(nil), c.Headers...)
	d.Hashes = append([]tezos.BlockHash(nil), c.Hashes...)
	return &d
}

// relink rebuilds the headers from i+1 on, each linked to the hash of the
// one below it, keeping their levels.
func (d *Chain) relink(from int) {
	for i := from; i < len(d.Headers); i++ {
		d.Headers[i] = d.header(i, d.Headers[i].Shell.Level, d.Hashes[i-1])
		d.Hashes[i] = mustHash(&d.Headers[i])
	}
}

// WithWrongLevel returns a copy of c in which the block at index at
// (1 ≤ at < len) and every block above it claim one level more than
// their height: each header hashes to its hash and links to the one
// below, but the block at index at is two levels above its predecessor.
// A reader that checks only hashes and links accepts it; one that checks
// levels does not.
func (c *Chain) WithWrongLevel(at int) *Chain {
	c.checkIndex("WithWrongLevel", at)
	d := c.clone()
	for i := at; i < len(d.Headers); i++ {
		d.Headers[i].Shell.Level = int32(i + 1)
	}
	d.relink(at)
	d.reindex()
	return d
}

// WithBrokenLink returns a copy of c in which the block at index at
// (1 ≤ at < len) names as predecessor a hash of no block of the chain
// (so the peer has no header for it); the blocks above are relinked, so
// each hashes to its hash. Its level is still one above the block below.
func (c *Chain) WithBrokenLink(at int) *Chain {
	c.checkIndex("WithBrokenLink", at)
	d := c.clone()
	d.Headers[at] = d.header(at, d.Headers[at].Shell.Level,
		tezos.BlockHash(crypto.Blake2b256([]byte("octeztest broken link"), d.Hashes[at-1][:])))
	d.Hashes[at] = mustHash(&d.Headers[at])
	d.relink(at + 1)
	d.reindex()
	return d
}

func (c *Chain) checkIndex(op string, at int) {
	if at < 1 || at >= len(c.Headers) {
		panic("octeztest: " + op + ": index out of the chain's non-genesis blocks")
	}
}

// locator is the branch from the block at index top down to the one at
// bottom (genesis for a current branch) as octez's
// Block_locator.compute gives it (lib_base/block_locator.ml 101-148):
// the head, then predecessors at steps of 1 ten times, then 2 ten times,
// 4, and so on, ending with bottom where a step would pass it (octez
// ends with the save point, 193-194); at most tezos.MaxLocatorHistory
// hashes.
// octez shortens each step after the first ten by a random gap drawn
// from a seed of both peers' ids; this locator takes no gap.
func (c *Chain) locator(top, bottom int) tezos.BlockLocator {
	l := tezos.BlockLocator{CurrentHead: c.Headers[top], History: []tezos.BlockHash{}}
	step, count := 1, 10
	i := top
	for i > bottom && len(l.History) < tezos.MaxLocatorHistory {
		i = max(i-step, bottom)
		l.History = append(l.History, c.Hashes[i])
		if count--; count == 0 {
			step, count = step*2, 10
		}
	}
	return l
}
