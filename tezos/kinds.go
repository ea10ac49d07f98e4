package tezos

import (
	"fmt"

	"github.com/p2ppool/p2ppool/dataenc"
)

// DistributedDBVersions are the distributed_db_versions of octez's
// message set (Distributed_db_version zero, one, two); a node announces
// the highest.
var DistributedDBVersions = []uint16{0, 1, 2}

// Kind describes one message of the set.
type Kind struct {
	Tag  uint16
	Name string // octez's ~title
	// MaxLength bounds the body. octez gives these cases no max_length of
	// their own; this is the largest body their bounded encodings accept
	// (8 MiB block headers, 128 KiB operations, 1 MiB operation lists,
	// 2 MiB protocols, 1000-hash locators, 4000-operation mempools,
	// 10-element requests), so a larger body can be refused before it is
	// read.
	MaxLength int
	read      func(*dataenc.Reader) Message
}

const locatorMax = 4 + MaxBlockHeaderSize + MaxLocatorHistory*HashSize

// kinds is the message set, in octez's order.
var kinds = []Kind{
	{TagGetCurrentBranch, "Get_current_branch", ChainIDSize, readChainMessage(func(c ChainID) Message { return GetCurrentBranch{c} })},
	{TagCurrentBranch, "Current_branch", ChainIDSize + locatorMax, readCurrentBranch},
	{TagDeactivate, "Deactivate", ChainIDSize, readChainMessage(func(c ChainID) Message { return Deactivate{c} })},
	{TagGetCurrentHead, "Get_current_head", ChainIDSize, readChainMessage(func(c ChainID) Message { return GetCurrentHead{c} })},
	{TagCurrentHead, "Current_head", ChainIDSize + 4 + MaxBlockHeaderSize + maxMempoolSize, readCurrentHead},
	{TagGetBlockHeaders, "Get_block_headers", 4 + MaxRequestLength*HashSize, readGetBlockHeaders},
	{TagBlockHeader, "Block_header", MaxBlockHeaderSize, readBlockHeaderMessage},
	{TagGetOperations, "Get_operations", 4 + MaxRequestLength*HashSize, readGetOperations},
	{TagOperation, "Operation", MaxOperationSize, readOperationMessage},
	{TagGetProtocols, "Get_protocols", 4 + MaxRequestLength*HashSize, readGetProtocols},
	{TagProtocol, "Protocol", MaxProtocolSize, readProtocolMessage},
	{TagGetOperationsForBlocks, "Get_operations_for_blocks", 4 + MaxRequestLength*(HashSize+1), readGetOperationsForBlocks},
	{TagOperationsForBlocks, "Operations_for_blocks", HashSize + 1 + maxPathSize + maxOperationListSize, readOperationsForBlocks},
	{TagGetCheckpoint, "Get_checkpoint", ChainIDSize, readChainMessage(func(c ChainID) Message { return GetCheckpoint{c} })},
	{TagCheckpoint, "Checkpoint", ChainIDSize + MaxBlockHeaderSize, readCheckpoint},
	{TagGetProtocolBranch, "Get_protocol_branch", ChainIDSize + 1, readGetProtocolBranch},
	{TagProtocolBranch, "Protocol_branch", ChainIDSize + 1 + locatorMax, readProtocolBranch},
	{TagGetPredecessorHeader, "Get_predecessor_header", HashSize + 4, readGetPredecessorHeader},
	{TagPredecessorHeader, "Predecessor_header", HashSize + 4 + MaxBlockHeaderSize, readPredecessorHeader},
}

func readChainMessage(wrap func(ChainID) Message) func(*dataenc.Reader) Message {
	return func(r *dataenc.Reader) Message {
		r.Field("chain_id")
		return wrap(readChainID(r))
	}
}

// Kinds returns the message set in octez's order (a fresh copy).
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// kindOf returns the kind with tag t, or nil.
func kindOf(t uint16) *Kind {
	for i := range kinds {
		if kinds[i].Tag == t {
			return &kinds[i]
		}
	}
	return nil
}

// ErrUnknownTag reports a tag outside the message set; it wraps
// dataenc.ErrInvalid.
var ErrUnknownTag = fmt.Errorf("tezos: unknown message tag: %w", dataenc.ErrInvalid)

// DecodeBody decodes the body of a message with the given tag. Bodies
// longer than the kind's MaxLength fail with dataenc.ErrTooLarge before
// anything is read; other failures are *dataenc.DecodeError. Byte slices
// in the result (protocol data, operation data, fitness) alias body.
func DecodeBody(tag uint16, body []byte) (Message, error) {
	k := kindOf(tag)
	if k == nil {
		return nil, fmt.Errorf("%w %#04x", ErrUnknownTag, tag)
	}
	if len(body) > k.MaxLength {
		return nil, &dataenc.DecodeError{What: k.Name + ": body of " + itoa(len(body)) + " bytes over " + itoa(k.MaxLength), Err: dataenc.ErrTooLarge}
	}
	r := dataenc.MakeReader(body)
	m := k.read(&r)
	if err := r.Finish(k.Name); err != nil {
		return nil, err
	}
	return m, nil
}

// AppendBody appends the body of m (the bytes after its tag) to dst. A
// value beyond the bounds of its encoding fails with an
// *dataenc.EncodeError and dst is returned unchanged.
func AppendBody(dst []byte, m Message) ([]byte, error) {
	out, err := m.appendBody(dst)
	if err != nil {
		return dst, err
	}
	if k := kindOf(m.Tag()); len(out)-len(dst) > k.MaxLength {
		return dst, tooLarge(k.Name, len(out)-len(dst), k.MaxLength)
	}
	return out, nil
}
