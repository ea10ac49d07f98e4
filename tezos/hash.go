package tezos

import (
	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/crypto"
)

// Sizes of the hashes and identifiers on the wire.
const (
	ChainIDSize = 4  // Chain_id.size
	HashSize    = 32 // every Blake2B-256 hash below
)

// The octez base58check prefixes (src/lib_crypto/base58.ml, Prefix).
var (
	prefixChainID               = []byte{87, 82, 0}    // "Net"
	prefixBlockHash             = []byte{1, 52}        // "B"
	prefixOperationHash         = []byte{5, 116}       // "o"
	prefixOperationListListHash = []byte{29, 159, 109} // "LLo"
	prefixProtocolHash          = []byte{2, 170}       // "P"
	prefixContextHash           = []byte{79, 199}      // "Co"
)

// ChainID identifies a chain (octez Chain_id): the first 4 bytes of the
// Blake2B hash of the genesis block. Its text form starts with "Net".
type ChainID [ChainIDSize]byte

// BlockHash is a block's hash (octez Block_hash), the Blake2B-256 of its
// encoded header. Its text form starts with "B".
type BlockHash [HashSize]byte

// OperationHash is an operation's hash (octez Operation_hash), the
// Blake2B-256 of its encoding. Its text form starts with "o".
type OperationHash [HashSize]byte

// OperationListListHash is the Merkle root over a block's validation
// passes (octez Operation_list_list_hash), and the type of the sibling
// hashes in an OperationsPath. Its text form starts with "LLo".
type OperationListListHash [HashSize]byte

// ProtocolHash identifies a protocol (octez Protocol_hash). Its text form
// starts with "P".
type ProtocolHash [HashSize]byte

// ContextHash is the hash of a block's resulting context (octez
// Context_hash). Its text form starts with "Co".
type ContextHash [HashSize]byte

// String returns the base58check text, as octez prints it.
func (h ChainID) String() string { return crypto.Base58CheckEncode(prefixChainID, h[:]) }

// String returns the base58check text, as octez prints it.
func (h BlockHash) String() string { return crypto.Base58CheckEncode(prefixBlockHash, h[:]) }

// String returns the base58check text, as octez prints it.
func (h OperationHash) String() string { return crypto.Base58CheckEncode(prefixOperationHash, h[:]) }

// String returns the base58check text, as octez prints it.
func (h OperationListListHash) String() string {
	return crypto.Base58CheckEncode(prefixOperationListListHash, h[:])
}

// String returns the base58check text, as octez prints it.
func (h ProtocolHash) String() string { return crypto.Base58CheckEncode(prefixProtocolHash, h[:]) }

// String returns the base58check text, as octez prints it.
func (h ContextHash) String() string { return crypto.Base58CheckEncode(prefixContextHash, h[:]) }

// parseHash decodes base58check text with the given prefix into dst.
func parseHash(s string, prefix, dst []byte) error {
	b, err := crypto.Base58CheckDecode(s, prefix, len(dst))
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// ParseChainID parses a "Net..." text. Errors wrap the base58check
// failure (bad character, checksum, prefix or length).
func ParseChainID(s string) (ChainID, error) {
	var h ChainID
	return h, parseHash(s, prefixChainID, h[:])
}

// ParseBlockHash parses a "B..." text; see ParseChainID for errors.
func ParseBlockHash(s string) (BlockHash, error) {
	var h BlockHash
	return h, parseHash(s, prefixBlockHash, h[:])
}

// ParseOperationHash parses an "o..." text; see ParseChainID for errors.
func ParseOperationHash(s string) (OperationHash, error) {
	var h OperationHash
	return h, parseHash(s, prefixOperationHash, h[:])
}

// ParseOperationListListHash parses an "LLo..." text; see ParseChainID.
func ParseOperationListListHash(s string) (OperationListListHash, error) {
	var h OperationListListHash
	return h, parseHash(s, prefixOperationListListHash, h[:])
}

// ParseProtocolHash parses a "P..." text; see ParseChainID for errors.
func ParseProtocolHash(s string) (ProtocolHash, error) {
	var h ProtocolHash
	return h, parseHash(s, prefixProtocolHash, h[:])
}

// ParseContextHash parses a "Co..." text; see ParseChainID for errors.
func ParseContextHash(s string) (ContextHash, error) {
	var h ContextHash
	return h, parseHash(s, prefixContextHash, h[:])
}

// Readers of the fixed-size values, without allocation.

func readChainID(r *dataenc.Reader) (h ChainID)     { r.FixedInto(h[:]); return }
func readBlockHash(r *dataenc.Reader) (h BlockHash) { r.FixedInto(h[:]); return }
func readOperationHash(r *dataenc.Reader) (h OperationHash) {
	r.FixedInto(h[:])
	return
}
func readProtocolHash(r *dataenc.Reader) (h ProtocolHash) { r.FixedInto(h[:]); return }

func appendBlockHash(dst []byte, h BlockHash) []byte         { return append(dst, h[:]...) }
func appendOperationHash(dst []byte, h OperationHash) []byte { return append(dst, h[:]...) }
func appendProtocolHash(dst []byte, h ProtocolHash) []byte   { return append(dst, h[:]...) }
