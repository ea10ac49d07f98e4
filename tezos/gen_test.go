package tezos

import (
	"math/rand/v2"
)

// gen builds random values of every type, within octez's bounds, for the
// property tests and fuzz seeds. Empty lists are nil and byte fields are
// never nil, as the decoders produce them.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0x7e205))} }

func (g gen) bytes(max int) []byte {
	b := make([]byte, g.r.IntN(max+1))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g gen) hash() (h [HashSize]byte) {
	for i := range h {
		h[i] = byte(g.r.Uint32())
	}
	return
}

func (g gen) chain() ChainID {
	return ChainID{byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32())}
}

func (g gen) header() BlockHeader {
	s := ShellHeader{
		Level:            int32(g.r.Uint32()),
		Proto:            uint8(g.r.Uint32()),
		Predecessor:      g.hash(),
		Timestamp:        int64(g.r.Uint64()),
		ValidationPasses: uint8(g.r.Uint32()),
		OperationsHash:   g.hash(),
		Context:          g.hash(),
	}
	for range g.r.IntN(4) {
		s.Fitness = append(s.Fitness, g.bytes(9))
	}
	return BlockHeader{Shell: s, ProtocolData: g.bytes(200)}
}

func (g gen) operation() Operation { return Operation{Branch: g.hash(), Data: g.bytes(300)} }

func (g gen) locator() BlockLocator {
	l := BlockLocator{CurrentHead: g.header()}
	for range g.r.IntN(30) {
		l.History = append(l.History, g.hash())
	}
	return l
}

func (g gen) opHashes(max int) []OperationHash {
	var hs []OperationHash
	for range g.r.IntN(max + 1) {
		hs = append(hs, g.hash())
	}
	return hs
}

func (g gen) path() OperationsPath {
	var p OperationsPath
	for range g.r.IntN(merkleDepth(MaxValidationPasses) + 1) {
		p = append(p, PathStep{Right: g.r.IntN(2) == 0, Sibling: g.hash()})
	}
	return p
}

func (g gen) protocol() Protocol {
	p := Protocol{ExpectedEnvVersion: int16(g.r.IntN(MaxEnvVersion + 1))}
	for range g.r.IntN(3) {
		c := ProtocolComponent{Name: string(g.bytes(10)), Implementation: string(g.bytes(50))}
		if g.r.IntN(2) == 0 {
			s := string(g.bytes(20))
			c.Interface = &s
		}
		p.Components = append(p.Components, c)
	}
	return p
}

// message returns a random message with the given tag.
func (g gen) message(tag uint16) Message {
	switch tag {
	case TagGetCurrentBranch:
		return GetCurrentBranch{g.chain()}
	case TagCurrentBranch:
		return CurrentBranch{ChainID: g.chain(), Locator: g.locator()}
	case TagDeactivate:
		return Deactivate{g.chain()}
	case TagGetCurrentHead:
		return GetCurrentHead{g.chain()}
	case TagCurrentHead:
		return CurrentHead{ChainID: g.chain(), Header: g.header(), Mempool: Mempool{KnownValid: g.opHashes(20), Pending: g.opHashes(20)}}
	case TagGetBlockHeaders:
		var hs []BlockHash
		for range g.r.IntN(MaxRequestLength + 1) {
			hs = append(hs, g.hash())
		}
		return GetBlockHeaders{hs}
	case TagBlockHeader:
		return BlockHeaderMessage{g.header()}
	case TagGetOperations:
		return GetOperations{g.opHashes(MaxRequestLength)}
	case TagOperation:
		return OperationMessage{g.operation()}
	case TagGetProtocols:
		var hs []ProtocolHash
		for range g.r.IntN(MaxRequestLength + 1) {
			hs = append(hs, g.hash())
		}
		return GetProtocols{hs}
	case TagProtocol:
		return ProtocolMessage{g.protocol()}
	case TagGetOperationsForBlocks:
		var rs []BlockPass
		for range g.r.IntN(MaxRequestLength + 1) {
			rs = append(rs, BlockPass{Block: g.hash(), Pass: int8(g.r.Uint32())})
		}
		return GetOperationsForBlocks{rs}
	case TagOperationsForBlocks:
		m := OperationsForBlocks{BlockPass: BlockPass{Block: g.hash(), Pass: int8(g.r.Uint32())}, Path: g.path()}
		for range g.r.IntN(5) {
			m.Operations = append(m.Operations, g.operation())
		}
		return m
	case TagGetCheckpoint:
		return GetCheckpoint{g.chain()}
	case TagCheckpoint:
		return Checkpoint{ChainID: g.chain(), Header: g.header()}
	case TagGetProtocolBranch:
		return GetProtocolBranch{ChainID: g.chain(), ProtoLevel: uint8(g.r.Uint32())}
	case TagProtocolBranch:
		return ProtocolBranch{ChainID: g.chain(), ProtoLevel: uint8(g.r.Uint32()), Locator: g.locator()}
	case TagGetPredecessorHeader:
		return GetPredecessorHeader{Block: g.hash(), Offset: int32(g.r.Uint32())}
	case TagPredecessorHeader:
		return PredecessorHeader{Block: g.hash(), Offset: int32(g.r.Uint32()), Header: g.header()}
	}
	panic("no generator for tag")
}
