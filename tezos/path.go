package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// MaxValidationPasses is octez's operation_max_pass (8). It bounds the
// Merkle path of an Operations_for_blocks to log2(8) levels.
const MaxValidationPasses = 8

// maxPathSize is octez bounded_path_encoding ~max_length:8: log2(8) × (32
// + 1) + 1 bytes, log2 rounding up as octez's does.
var maxPathSize = merkleDepth(MaxValidationPasses)*(HashSize+1) + 1

// merkleDepth is octez Make_merkle_tree's log2.
func merkleDepth(x int) int {
	if x <= 1 {
		return 0
	}
	return 1 + merkleDepth((x+1)/2)
}

// Tags of octez Make_merkle_tree.path_encoding.
const (
	pathTagOp    = 0x00
	pathTagRight = 0x0F
	pathTagLeft  = 0xF0
)

// PathStep is one level of a Merkle path, from the root down.
type PathStep struct {
	// Right reports that the element is in the right subtree (octez
	// Right (l, p)), Sibling then being the left subtree's hash; otherwise
	// the element is on the left (Left (p, r)) and Sibling is the right
	// subtree's hash.
	Right   bool
	Sibling OperationListListHash
}

// OperationsPath is the Merkle path from a block's operations_hash down
// to one validation pass's list (octez Operation_list_list_hash.path);
// empty is octez's Op, the path of a one-leaf tree.
type OperationsPath []PathStep

// readPath reads octez's recursive path encoding without recursion: the
// tags (0xF0 Left, 0x0F Right with its left hash at once) down to 0x00,
// then the right hashes of the Left steps, innermost first. The check_size
// bounds the number of steps.
func readPath(r *dataenc.Reader) OperationsPath {
	c := r.BeginCheckSize(maxPathSize)
	defer r.End(c)
	var p OperationsPath
	for r.Err() == nil {
		switch tag := r.Uint8(); tag {
		case pathTagOp:
			for i := len(p) - 1; i >= 0 && r.Err() == nil; i-- {
				if !p[i].Right {
					r.FixedInto(p[i].Sibling[:])
				}
			}
			if r.Err() != nil {
				return nil
			}
			return p
		case pathTagLeft:
			p = append(p, PathStep{})
		case pathTagRight:
			var s PathStep
			s.Right = true
			r.FixedInto(s.Sibling[:])
			p = append(p, s)
		default:
			if r.Err() == nil {
				r.Failf(dataenc.ErrInvalid, "path tag "+itoa(int(tag)))
			}
		}
	}
	return nil
}

func appendPath(dst []byte, p OperationsPath) ([]byte, error) {
	start := len(dst)
	for _, s := range p {
		if s.Right {
			dst = append(dst, pathTagRight)
			dst = append(dst, s.Sibling[:]...)
		} else {
			dst = append(dst, pathTagLeft)
		}
	}
	dst = append(dst, pathTagOp)
	for i := len(p) - 1; i >= 0; i-- {
		if !p[i].Right {
			dst = append(dst, p[i].Sibling[:]...)
		}
	}
	if n := len(dst) - start; n > maxPathSize {
		return dst[:start], tooLarge("operations path", n, maxPathSize)
	}
	return dst, nil
}
