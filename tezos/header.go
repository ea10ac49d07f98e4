package tezos

import (
	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/crypto"
)

// MaxBlockHeaderSize bounds an encoded block header, as octez's
// Distributed_db_message.Bounded_encoding.block_header_max_size (8 MiB).
const MaxBlockHeaderSize = 8 * 1024 * 1024

// ShellHeader is the part of a block header the shell understands (octez
// Block_header.shell_header).
type ShellHeader struct {
	Level int32
	// Proto is the protocol level, incremented at each protocol change.
	Proto       uint8
	Predecessor BlockHash
	// Timestamp is in seconds since the Unix epoch (Time.Protocol).
	Timestamp int64
	// ValidationPasses is the number of operation lists of the block.
	ValidationPasses uint8
	OperationsHash   OperationListListHash
	// Fitness is the protocol's opaque score of the chain.
	Fitness [][]byte
	Context ContextHash
}

// BlockHeader is a block header (octez Block_header.t): the shell part,
// then the protocol's part kept as bytes.
type BlockHeader struct {
	Shell ShellHeader
	// ProtocolData is the protocol-specific rest (Variable.bytes).
	ProtocolData []byte
}

// readShellHeader reads the eight fields of octez shell_header_encoding.
func readShellHeader(r *dataenc.Reader, s *ShellHeader) {
	r.Field("level")
	s.Level = r.Int32()
	r.Field("proto")
	s.Proto = r.Uint8()
	r.Field("predecessor")
	r.FixedInto(s.Predecessor[:])
	r.Field("timestamp")
	s.Timestamp = r.Int64()
	r.Field("validation_pass")
	s.ValidationPasses = r.Uint8()
	r.Field("operations_hash")
	r.FixedInto(s.OperationsHash[:])
	r.Field("fitness")
	// octez gives the fitness no max_length (Fitness.encoding is `list
	// bytes`): its bound is the header's 8 MiB over an element's 4 bytes.
	s.Fitness = dataenc.ListMin(r, dataenc.NoLimit, dataenc.NoLimit, fitnessElemMin, readFitnessElem)
	r.Field("context")
	r.FixedInto(s.Context[:])
}

// fitnessElemMin is the fewest bytes a fitness element takes on the
// wire: an empty `bytes`, its 4-byte length prefix.
const fitnessElemMin = 4

func readFitnessElem(r *dataenc.Reader) []byte { return r.Bytes(dataenc.NoLimit) }

func appendShellHeader(dst []byte, s *ShellHeader) ([]byte, error) {
	dst = dataenc.AppendInt32(dst, s.Level)
	dst = append(dst, s.Proto)
	dst = append(dst, s.Predecessor[:]...)
	dst = dataenc.AppendInt64(dst, s.Timestamp)
	dst = append(dst, s.ValidationPasses)
	dst = append(dst, s.OperationsHash[:]...)
	dst, err := dataenc.AppendList(dst, s.Fitness, dataenc.NoLimit, dataenc.AppendBytes)
	if err != nil {
		return dst, err
	}
	return append(dst, s.Context[:]...), nil
}

// readBlockHeader reads octez Block_header.bounded_encoding: the shell
// header and the protocol data to the end of the region, within a
// check_size of MaxBlockHeaderSize.
func readBlockHeader(r *dataenc.Reader, h *BlockHeader) {
	c := r.BeginCheckSize(MaxBlockHeaderSize)
	readShellHeader(r, &h.Shell)
	r.Field("protocol_data")
	h.ProtocolData = r.Rest()
	r.End(c)
}

func appendBlockHeader(dst []byte, h *BlockHeader) ([]byte, error) {
	dst, err := appendShellHeader(dst, &h.Shell)
	if err != nil {
		return dst, err
	}
	return append(dst, h.ProtocolData...), nil
}

// BlockHeaderCodec encodes a whole block header, as octez
// Block_header.bounded_encoding with the shell's 8 MiB bound.
var BlockHeaderCodec = dataenc.Codec[BlockHeader]{
	Name:        "block header",
	MaxSize:     MaxBlockHeaderSize,
	Read:        readBlockHeader,
	Append:      appendBlockHeader,
	DecodedSize: Kind{Tag: TagBlockHeader}.DecodedSize,
}

// appendBoundedHeader is BlockHeaderCodec.Encode called directly, so that
// h does not escape to the heap through the Codec's function value.
func appendBoundedHeader(dst []byte, h *BlockHeader) ([]byte, error) {
	out, err := appendBlockHeader(dst, h)
	if err != nil {
		return dst, err
	}
	if n := len(out) - len(dst); n > MaxBlockHeaderSize {
		return dst, tooLarge("block header", n, MaxBlockHeaderSize)
	}
	return out, nil
}

// Hash returns the block's hash: Blake2B-256 of its encoding.
func (h *BlockHeader) Hash() (BlockHash, error) {
	b, err := BlockHeaderCodec.Encode(nil, h)
	if err != nil {
		return BlockHash{}, err
	}
	return crypto.Blake2b256(b), nil
}

// readDynamicBlockHeader reads `dynamic_size block_header`, as in the
// block locator and Current_head.
func readDynamicBlockHeader(r *dataenc.Reader, h *BlockHeader) {
	s := r.BeginDynamic(MaxBlockHeaderSize)
	readBlockHeader(r, h)
	r.End(s)
}

func appendDynamicBlockHeader(dst []byte, h *BlockHeader) ([]byte, error) {
	out, start := dataenc.BeginDynamic(dst)
	out, err := appendBlockHeader(out, h)
	if err != nil {
		return dst, err
	}
	if len(out)-start-4 > MaxBlockHeaderSize {
		return dst, tooLarge("block header", len(out)-start-4, MaxBlockHeaderSize)
	}
	return dataenc.EndDynamic(out, start)
}
