package tezos

import (
	"unsafe"

	"github.com/p2ppool/p2ppool/dataenc"
)

// The memory a decoded message holds, bounded from its body's length
// alone (Kind.DecodedSize), for a pool to budget a message before it reads
// and decodes it. The bound is for every body a peer can send: the worst
// is a list of the smallest elements its encoding allows, each a few bytes
// on the wire and a slice element or a struct in memory, whose count
// dataenc.MaxElements gives.
var (
	// fitnessElemMem is what a fitness element holds: its slice header
	// (its bytes alias the body).
	fitnessElemMem = int(unsafe.Sizeof([]byte(nil)))
	// operationMem is an Operation of an Operations_for_blocks (its data
	// aliases the body).
	operationMem = int(unsafe.Sizeof(Operation{}))
	// componentMem is a protocol component beyond its text: the struct,
	// the boxed interface string, and the rounding of its three string
	// copies (at most 16 bytes each; the text itself is counted apart).
	componentMem = int(unsafe.Sizeof(ProtocolComponent{})) + int(unsafe.Sizeof("")) + 3*16
)

// decodedSlack covers what does not grow with the body: the message
// struct boxed in its interface, a Merkle path's few steps, a request
// list's ten hashes.
const decodedSlack = 1 << 10

// DecodedSize bounds the bytes of memory the decoded form of a body of n
// bytes of this kind holds, as MessageConfig's decoder makes it: the copy
// of the body the message's byte slices alias, plus, for the kinds that
// carry lists, the largest list the n bytes can encode (octez gives the
// fitness, a protocol's components and the operations of an
// Operations_for_blocks no element bound; their bytes do). Allocations
// are rounded up by an eighth, Go's largest size-class waste. A
// Block_header of 8 MiB whose fitness is two million empty elements
// decodes to 56 MiB (48 of them slice headers): DecodedSize says 63 MiB,
// and a p2ppool budget counts it so.
func (k Kind) DecodedSize(n int) int {
	if n <= 0 {
		return decodedSlack
	}
	var extra int
	switch k.Tag {
	case TagCurrentBranch, TagCurrentHead, TagBlockHeader, TagCheckpoint, TagProtocolBranch, TagPredecessorHeader:
		// A header's fitness; the hashes of a locator or mempool that may
		// share the body hold no more than their bytes, less than a
		// fitness of the same bytes.
		extra = dataenc.MaxElements(n, fitnessElemMin) * fitnessElemMem
	case TagOperationsForBlocks:
		extra = dataenc.MaxElements(n, operationElemMin) * operationMem
	case TagProtocol:
		// The components, and the copies String makes of their text.
		extra = dataenc.MaxElements(n, componentMin)*componentMem + n
	case TagGetBlockHeaders, TagGetOperations, TagGetProtocols, TagGetOperationsForBlocks:
		extra = n // hashes, as many bytes as on the wire
	}
	return n + extra + (n+extra)/8 + decodedSlack
}
