package tezos

// Message is one message of the octez shell's distributed DB
// (Distributed_db_message.t). Each message type below is one case; its
// Tag is its tag in the P2P envelope.
type Message interface {
	// Tag returns the message's 2-byte tag.
	Tag() uint16
	// appendBody appends the body (the bytes after the tag).
	appendBody(dst []byte) ([]byte, error)
}

// Tags of the distributed DB messages (Distributed_db_message.encoding).
const (
	TagGetCurrentBranch       uint16 = 0x10
	TagCurrentBranch          uint16 = 0x11
	TagDeactivate             uint16 = 0x12
	TagGetCurrentHead         uint16 = 0x13
	TagCurrentHead            uint16 = 0x14
	TagGetBlockHeaders        uint16 = 0x20
	TagBlockHeader            uint16 = 0x21
	TagGetOperations          uint16 = 0x30
	TagOperation              uint16 = 0x31
	TagGetProtocols           uint16 = 0x40
	TagProtocol               uint16 = 0x41
	TagGetOperationsForBlocks uint16 = 0x60
	TagOperationsForBlocks    uint16 = 0x61
	TagGetCheckpoint          uint16 = 0x70
	TagCheckpoint             uint16 = 0x71
	TagGetProtocolBranch      uint16 = 0x80
	TagProtocolBranch         uint16 = 0x81
	TagGetPredecessorHeader   uint16 = 0x90
	TagPredecessorHeader      uint16 = 0x91
)

// MaxRequestLength is the max_length of the request lists of
// Get_block_headers, Get_operations, Get_protocols and
// Get_operations_for_blocks (10 in octez).
const MaxRequestLength = 10

// maxOperationListSize is octez's operation_list_max_size (1 MiB): the
// bound of the operations of one Operations_for_blocks.
const maxOperationListSize = 1024 * 1024

// GetCurrentBranch (0x10) asks for the peer's current branch of a chain.
type GetCurrentBranch struct{ ChainID ChainID }

// CurrentBranch (0x11) gives the sender's current branch as a locator.
type CurrentBranch struct {
	ChainID ChainID
	Locator BlockLocator
}

// Deactivate (0x12) tells the peer the sender stops following a chain.
type Deactivate struct{ ChainID ChainID }

// GetCurrentHead (0x13) asks for the peer's current head of a chain.
type GetCurrentHead struct{ ChainID ChainID }

// CurrentHead (0x14) gives the sender's head and mempool.
type CurrentHead struct {
	ChainID ChainID
	Header  BlockHeader
	Mempool Mempool
}

// GetBlockHeaders (0x20) asks for up to MaxRequestLength block headers.
type GetBlockHeaders struct{ Hashes []BlockHash }

// BlockHeaderMessage (0x21) carries one block header.
type BlockHeaderMessage struct{ Header BlockHeader }

// GetOperations (0x30) asks for up to MaxRequestLength operations.
type GetOperations struct{ Hashes []OperationHash }

// OperationMessage (0x31) carries one operation.
type OperationMessage struct{ Operation Operation }

// GetProtocols (0x40) asks for up to MaxRequestLength protocols.
type GetProtocols struct{ Hashes []ProtocolHash }

// ProtocolMessage (0x41) carries one protocol.
type ProtocolMessage struct{ Protocol Protocol }

// BlockPass names one validation pass of one block.
type BlockPass struct {
	Block BlockHash
	// Pass is the validation pass (an int8 on the wire).
	Pass int8
}

// GetOperationsForBlocks (0x60) asks for the operations of up to
// MaxRequestLength (block, validation pass) pairs.
type GetOperationsForBlocks struct{ Requests []BlockPass }

// OperationsForBlocks (0x61) carries the operations of one validation
// pass of one block, with the Merkle path that ties them to the block's
// operations_hash.
type OperationsForBlocks struct {
	BlockPass
	Path       OperationsPath
	Operations []Operation
}

// GetCheckpoint (0x70) asks for the peer's checkpoint of a chain.
type GetCheckpoint struct{ ChainID ChainID }

// Checkpoint (0x71) gives the sender's checkpoint block header.
type Checkpoint struct {
	ChainID ChainID
	Header  BlockHeader
}

// GetProtocolBranch (0x80) asks for the branch of a protocol level.
type GetProtocolBranch struct {
	ChainID    ChainID
	ProtoLevel uint8
}

// ProtocolBranch (0x81) gives the branch of a protocol level as a
// locator.
type ProtocolBranch struct {
	ChainID    ChainID
	ProtoLevel uint8
	Locator    BlockLocator
}

// GetPredecessorHeader (0x90) asks for the header Offset blocks before
// Block.
type GetPredecessorHeader struct {
	Block  BlockHash
	Offset int32
}

// PredecessorHeader (0x91) answers GetPredecessorHeader.
type PredecessorHeader struct {
	Block  BlockHash
	Offset int32
	Header BlockHeader
}

// Tag implements Message.
func (GetCurrentBranch) Tag() uint16 { return TagGetCurrentBranch }

// Tag implements Message.
func (CurrentBranch) Tag() uint16 { return TagCurrentBranch }

// Tag implements Message.
func (Deactivate) Tag() uint16 { return TagDeactivate }

// Tag implements Message.
func (GetCurrentHead) Tag() uint16 { return TagGetCurrentHead }

// Tag implements Message.
func (CurrentHead) Tag() uint16 { return TagCurrentHead }

// Tag implements Message.
func (GetBlockHeaders) Tag() uint16 { return TagGetBlockHeaders }

// Tag implements Message.
func (BlockHeaderMessage) Tag() uint16 { return TagBlockHeader }

// Tag implements Message.
func (GetOperations) Tag() uint16 { return TagGetOperations }

// Tag implements Message.
func (OperationMessage) Tag() uint16 { return TagOperation }

// Tag implements Message.
func (GetProtocols) Tag() uint16 { return TagGetProtocols }

// Tag implements Message.
func (ProtocolMessage) Tag() uint16 { return TagProtocol }

// Tag implements Message.
func (GetOperationsForBlocks) Tag() uint16 { return TagGetOperationsForBlocks }

// Tag implements Message.
func (OperationsForBlocks) Tag() uint16 { return TagOperationsForBlocks }

// Tag implements Message.
func (GetCheckpoint) Tag() uint16 { return TagGetCheckpoint }

// Tag implements Message.
func (Checkpoint) Tag() uint16 { return TagCheckpoint }

// Tag implements Message.
func (GetProtocolBranch) Tag() uint16 { return TagGetProtocolBranch }

// Tag implements Message.
func (ProtocolBranch) Tag() uint16 { return TagProtocolBranch }

// Tag implements Message.
func (GetPredecessorHeader) Tag() uint16 { return TagGetPredecessorHeader }

// Tag implements Message.
func (PredecessorHeader) Tag() uint16 { return TagPredecessorHeader }
