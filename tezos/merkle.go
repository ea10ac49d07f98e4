package tezos

import "github.com/p2ppool/p2ppool/internal/crypto"

// OperationListHash is the Merkle root over the hashes of one validation
// pass's operations (octez Operation_list_hash). Its text form starts with
// "Lo".
type OperationListHash [HashSize]byte

var prefixOperationListHash = []byte{133, 233} // "Lo"

// String returns the base58check text, as octez prints it.
func (h OperationListHash) String() string {
	return crypto.Base58CheckEncode(prefixOperationListHash, h[:])
}

// The Merkle trees of octez's Blake2B.Make_merkle_tree: a leaf is the hash
// of an element's bytes, a node the hash of its children's concatenation,
// the empty tree the hash of nothing, and a level of odd width repeats its
// last node.

func merkleLeaf(elt [HashSize]byte) [HashSize]byte { return crypto.Blake2b256(elt[:]) }

func merkleNode(l, r [HashSize]byte) [HashSize]byte { return crypto.Blake2b256(l[:], r[:]) }

// merkleRoot is octez compute: the root over the leaves of elts.
func merkleRoot(elts [][HashSize]byte) [HashSize]byte {
	switch len(elts) {
	case 0:
		return crypto.Blake2b256()
	case 1:
		return merkleLeaf(elts[0])
	}
	a := leaves(elts)
	n := len(elts)
	for {
		m := (n + 1) / 2
		for i := range m {
			a[i] = merkleNode(a[2*i], a[2*i+1])
		}
		a[m] = merkleNode(a[n], a[n])
		if m == 1 {
			return a[0]
		}
		if m%2 != 0 {
			a[m+1] = a[m]
			m++
		}
		n = m
	}
}

// leaves returns the n leaves followed by a copy of the last (octez's
// array of n+1), with room for the level-widening copy.
func leaves(elts [][HashSize]byte) [][HashSize]byte {
	n := len(elts)
	a := make([][HashSize]byte, n+2)
	for i, e := range elts {
		a[i] = merkleLeaf(e)
	}
	a[n], a[n+1] = a[n-1], a[n-1]
	return a
}

// merklePath is octez compute_path: the path to the i-th leaf, root first.
func merklePath(elts [][HashSize]byte, i int) OperationsPath {
	if len(elts) < 2 {
		return nil
	}
	a := leaves(elts)
	n, j := len(elts), i
	var inner []PathStep // innermost first, as octez builds it
	for {
		m := (n + 1) / 2
		if j%2 == 0 {
			inner = append(inner, PathStep{Sibling: a[j+1]})
		} else {
			inner = append(inner, PathStep{Right: true, Sibling: a[j-1]})
		}
		for k := range m {
			a[k] = merkleNode(a[2*k], a[2*k+1])
		}
		a[m] = merkleNode(a[n], a[n])
		if m == 1 {
			break
		}
		if m%2 != 0 {
			a[m+1] = a[m]
			m++
		}
		n, j = m, j/2
	}
	p := make(OperationsPath, len(inner))
	for k, s := range inner {
		p[len(inner)-1-k] = s
	}
	return p
}

// OperationListHashOf returns the Merkle root over one validation pass's
// operation hashes (octez Operation_list_hash.compute).
func OperationListHashOf(ops []OperationHash) OperationListHash {
	elts := make([][HashSize]byte, len(ops))
	for i, h := range ops {
		elts[i] = h
	}
	return merkleRoot(elts)
}

// OperationsHashOf returns a block's operations_hash: the Merkle root over
// its validation passes' list hashes (octez
// Operation_list_list_hash.compute).
func OperationsHashOf(lists []OperationListHash) OperationListListHash {
	elts := make([][HashSize]byte, len(lists))
	for i, h := range lists {
		elts[i] = h
	}
	return merkleRoot(elts)
}

// OperationsPathOf returns the path from the operations_hash over lists
// down to lists[i] (octez Operation_list_list_hash.compute_path), as an
// Operations_for_blocks answer carries it. i must index lists.
func OperationsPathOf(lists []OperationListHash, i int) OperationsPath {
	elts := make([][HashSize]byte, len(lists))
	for k, h := range lists {
		elts[k] = h
	}
	return merklePath(elts, i)
}

// Check returns the operations_hash that p and the list hash at its end
// imply, and the list's position (octez check_path). An
// Operations_for_blocks is consistent with its block when Check of the
// hash of its operations gives the header's OperationsHash and the
// validation pass.
func (p OperationsPath) Check(list OperationListHash) (OperationListListHash, int) {
	h := merkleLeaf(list)
	size, pos := 1, 0
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].Right {
			h = merkleNode(p[i].Sibling, h)
			pos += size
		} else {
			h = merkleNode(h, p[i].Sibling)
		}
		size *= 2
	}
	return h, pos
}
