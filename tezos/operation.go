package tezos

import (
	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/crypto"
)

// MaxOperationSize bounds an encoded operation, as octez's
// Distributed_db_message.Bounded_encoding.operation_max_size (128 KiB).
const MaxOperationSize = 128 * 1024

// Operation is an operation (octez Operation.t): the block it is meant to
// apply on, then the protocol's part kept as bytes.
type Operation struct {
	Branch BlockHash
	// Data is the protocol-specific rest (Variable.bytes).
	Data []byte
}

// readOperation reads octez Operation.bounded_encoding: a check_size of
// MaxOperationSize over the branch and the data to the end of the region.
func readOperation(r *dataenc.Reader, o *Operation) {
	c := r.BeginCheckSize(MaxOperationSize)
	r.Field("branch")
	r.FixedInto(o.Branch[:])
	r.Field("data")
	o.Data = r.Rest()
	r.End(c)
}

func appendOperation(dst []byte, o *Operation) ([]byte, error) {
	return append(append(dst, o.Branch[:]...), o.Data...), nil
}

// OperationCodec encodes a whole operation, as octez
// Operation.bounded_encoding with the shell's 128 KiB bound.
var OperationCodec = dataenc.Codec[Operation]{
	Name:        "operation",
	MaxSize:     MaxOperationSize,
	Read:        readOperation,
	Append:      appendOperation,
	DecodedSize: Kind{Tag: TagOperation}.DecodedSize,
}

// appendBoundedOperation is OperationCodec.Encode called directly (see
// appendBoundedHeader).
func appendBoundedOperation(dst []byte, o *Operation) ([]byte, error) {
	out, _ := appendOperation(dst, o)
	if n := len(out) - len(dst); n > MaxOperationSize {
		return dst, tooLarge("operation", n, MaxOperationSize)
	}
	return out, nil
}

// Hash returns the operation's hash: Blake2B-256 of its encoding.
func (o *Operation) Hash() OperationHash {
	b := make([]byte, 0, HashSize+len(o.Data))
	b, _ = appendOperation(b, o)
	return crypto.Blake2b256(b)
}
