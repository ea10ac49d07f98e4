package tezos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMerklePathsCheck(t *testing.T) {
	g := newGen(5)
	for n := 1; n <= 9; n++ {
		lists := make([]OperationListHash, n)
		for i := range lists {
			lists[i] = g.hash()
		}
		root := OperationsHashOf(lists)
		for i := range lists {
			p := OperationsPathOf(lists, i)
			got, pos := p.Check(lists[i])
			assert.Equal(t, root, got, "n=%d i=%d", n, i)
			assert.Equal(t, i, pos, "n=%d i=%d", n, i)
			if n <= MaxValidationPasses {
				_, err := appendPath(nil, p)
				require.NoError(t, err, "a path over %d passes fits octez's bound", n)
			}
		}
	}
	// One element: the path is Op and the root its leaf.
	one := []OperationListHash{g.hash()}
	assert.Empty(t, OperationsPathOf(one, 0))
	assert.NotEqual(t, OperationListListHash(one[0]), OperationsHashOf(one))
	assert.True(t, len(OperationListHashOf(nil).String()) > 2)
}

// TestRecordedOperationsAreConsistent checks the recorded session's
// Operations_for_blocks beyond their bytes: each answers a
// Get_operations_for_blocks the initiator sent; its Merkle path, applied
// to the list hash of its operations' hashes, lands at its validation
// pass; the passes of one block give the same operations_hash; and that
// root is the header's wherever the block's header was received too.
func TestRecordedOperationsAreConsistent(t *testing.T) {
	s := loadSession(t)
	requested := map[BlockPass]bool{}
	for _, raw := range s.Sent {
		if _, m := roundTrip(t, raw); m != nil {
			if g, ok := m.(GetOperationsForBlocks); ok {
				for _, r := range g.Requests {
					requested[r] = true
				}
			}
		}
	}
	headers := map[BlockHash]BlockHeader{}
	var opsMsgs []OperationsForBlocks
	for _, raw := range s.Received {
		_, m := roundTrip(t, raw)
		var h *BlockHeader
		switch m := m.(type) {
		case BlockHeaderMessage:
			h = &m.Header
		case CurrentHead:
			h = &m.Header
		case OperationsForBlocks:
			opsMsgs = append(opsMsgs, m)
		}
		if h != nil {
			hash, err := h.Hash()
			require.NoError(t, err)
			headers[hash] = *h
		}
	}
	require.NotEmpty(t, opsMsgs)
	roots := map[BlockHash]OperationListListHash{}
	shared, withHeader := 0, 0
	for _, m := range opsMsgs {
		assert.True(t, requested[m.BlockPass], "block %s pass %d was asked for", m.Block, m.Pass)
		hashes := make([]OperationHash, len(m.Operations))
		for i := range m.Operations {
			hashes[i] = m.Operations[i].Hash()
		}
		root, pos := m.Path.Check(OperationListHashOf(hashes))
		assert.Equal(t, int(m.Pass), pos, "block %s pass %d", m.Block, m.Pass)
		if prev, ok := roots[m.Block]; ok {
			assert.Equal(t, prev, root, "block %s: passes agree on operations_hash", m.Block)
			shared++
		}
		roots[m.Block] = root
		if h, ok := headers[m.Block]; ok {
			assert.Equal(t, h.Shell.OperationsHash, root, "block %s pass %d", m.Block, m.Pass)
			withHeader++
		}
	}
	t.Logf("%d Operations_for_blocks for %d blocks: %d agree with another pass of their block, %d with a received header",
		len(opsMsgs), len(roots), shared, withHeader)
}

// TestKnownOperationsHashes: octez's values for blocks without operations
// (genesis, with no validation pass; and a four-pass block with none, as
// every empty sandbox block shows).
func TestKnownOperationsHashes(t *testing.T) {
	assert.Equal(t, "LLoZS2LW3rEi7KYU4ouBQtorua37aWWCtpDmv1n2x3xoKi6sVXLWp", OperationsHashOf(nil).String())
	empty := OperationListHashOf(nil)
	four := []OperationListHash{empty, empty, empty, empty}
	assert.Equal(t, "LLoa7bxRTKaQN2bLYoitYB6bU2DvLnBAqrVjZcvJ364cTcX2PZYKU", OperationsHashOf(four).String())
}
