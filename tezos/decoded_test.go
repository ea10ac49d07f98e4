package tezos

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/dataenc"
)

// worstCases build bodies made to decode to as much memory as their
// kind allows: lists of the smallest elements the encodings accept. Each
// is built when its case runs, so that the others do not weigh on the
// collections that measure it.
var worstCases = map[string]func() Message{
	"Block_header, 8 MiB of empty fitness": func() Message {
		return BlockHeaderMessage{Header: fitnessHeader((MaxBlockHeaderSize - 200) / fitnessElemMin)}
	},
	"Block_header, 64 KiB of empty fitness": func() Message { return BlockHeaderMessage{Header: fitnessHeader(16 << 10)} },
	"Block_header, one element":             func() Message { return BlockHeaderMessage{Header: fitnessHeader(1)} },
	"Current_head, fitness and mempool": func() Message {
		hashes := make([]OperationHash, MaxMempoolOperations/2-1)
		return CurrentHead{Header: fitnessHeader(1 << 20), Mempool: Mempool{KnownValid: hashes, Pending: hashes}}
	},
	"Current_branch, fitness and history": func() Message {
		return CurrentBranch{Locator: BlockLocator{CurrentHead: fitnessHeader(1 << 18), History: make([]BlockHash, MaxLocatorHistory)}}
	},
	"Protocol, empty components": func() Message {
		return ProtocolMessage{Protocol: Protocol{Components: make([]ProtocolComponent, (MaxProtocolSize-8)/componentMin)}}
	},
	"Protocol, tiny strings": func() Message {
		iface := "c"
		comps := make([]ProtocolComponent, (MaxProtocolSize-8)/18) // 4+2, 1, 4+1, 4+2 bytes
		for i := range comps {
			comps[i] = ProtocolComponent{Name: "ab", Interface: &iface, Implementation: "de"}
		}
		return ProtocolMessage{Protocol: Protocol{Components: comps}}
	},
	"Operations_for_blocks, minimal": func() Message {
		return OperationsForBlocks{Operations: make([]Operation, maxOperationListSize/operationElemMin)}
	},
	"Get_operations_for_blocks": func() Message {
		return GetOperationsForBlocks{Requests: make([]BlockPass, MaxRequestLength)}
	},
}

// fitnessHeader is a block header whose fitness is n empty elements,
// 4 bytes each on the wire.
func fitnessHeader(n int) BlockHeader {
	return BlockHeader{Shell: ShellHeader{Fitness: make([][]byte, n)}}
}

// TestDecodedSizeBoundsDecoding: for the worst bodies of each kind, and
// random bodies of every kind, what MessageConfig's decoder allocates is
// within the kind's DecodedSize, the figure a pool budgets it at.
func TestDecodedSizeBoundsDecoding(t *testing.T) {
	encs := MessageConfig("TEZOS_TEST").Encodings
	decode := func(t *testing.T, m Message) {
		t.Helper()
		body, err := AppendBody(nil, m)
		require.NoError(t, err)
		var e int
		for e = range encs {
			if encs[e].Tag == m.Tag() {
				break
			}
		}
		var got Message
		allocated := totalAlloc(func() { got, err = encs[e].Decode(body) })
		require.NoError(t, err)
		require.Equal(t, m.Tag(), got.Tag())
		bound := encs[e].DecodedSize(len(body))
		t.Logf("%s: %d bytes on the wire, %d allocated, bound %d", encs[e].Name, len(body), allocated, bound)
		assert.LessOrEqual(t, allocated, int64(bound), "%s of %d bytes", encs[e].Name, len(body))
	}
	for name, build := range worstCases {
		t.Run(name, func(t *testing.T) { decode(t, build()) })
	}
	t.Run("random", func(t *testing.T) {
		for i := range 5 {
			for _, k := range kinds {
				decode(t, newGen(uint64(i)).message(k.Tag))
			}
		}
	})
}

// TestListBounds pins each list's element bound, octez's max_length where
// it gives one, else its bytes over the element's least size: one more
// element than the bound is refused, or cannot be written in the bytes.
func TestListBounds(t *testing.T) {
	// octez max_length 10 on the requests.
	_, err := AppendBody(nil, GetBlockHeaders{Hashes: make([]BlockHash, MaxRequestLength+1)})
	require.ErrorIs(t, err, dataenc.ErrTooLarge)
	over := dataenc.AppendUint32(nil, uint32((MaxRequestLength+1)*HashSize))
	over = append(over, make([]byte, (MaxRequestLength+1)*HashSize)...)
	_, err = DecodeBody(TagGetOperations, over)
	require.ErrorIs(t, err, dataenc.ErrTooLarge)
	// octez block_locator_max_length on the history.
	_, err = AppendBody(nil, CurrentBranch{Locator: BlockLocator{History: make([]BlockHash, MaxLocatorHistory+1)}})
	require.ErrorIs(t, err, dataenc.ErrTooLarge)

	// The fitness: as many empty elements as 8 MiB holds, no more.
	fits := (MaxBlockHeaderSize - 78 - 4 - 32) / fitnessElemMin
	b, err := AppendBody(nil, BlockHeaderMessage{Header: BlockHeader{Shell: ShellHeader{Fitness: make([][]byte, fits)}}})
	require.NoError(t, err)
	assert.Len(t, b, MaxBlockHeaderSize-(MaxBlockHeaderSize-78-4-32)%fitnessElemMin)
	m, err := DecodeBody(TagBlockHeader, b)
	require.NoError(t, err)
	f := m.(BlockHeaderMessage).Header.Shell.Fitness
	assert.Len(t, f, fits)
	assert.Equal(t, fits, cap(f), "allocated at the count the bytes give")
	_, err = AppendBody(nil, BlockHeaderMessage{Header: BlockHeader{Shell: ShellHeader{Fitness: make([][]byte, fits+1)}}})
	require.ErrorIs(t, err, dataenc.ErrTooLarge)

	// An element under its least size cannot be: a fitness region of 3
	// bytes is refused, as octez refuses it.
	short := append(make([]byte, 78), 0, 0, 0, 3, 0, 0, 0)
	short = append(short, make([]byte, 32)...)
	_, err = DecodeBody(TagBlockHeader, short)
	require.ErrorIs(t, err, dataenc.ErrTruncated)

	// Components and operations: bounded by their bytes, sized from them.
	comps := make([]ProtocolComponent, 1000)
	b, err = AppendBody(nil, ProtocolMessage{Protocol: Protocol{Components: comps}})
	require.NoError(t, err)
	m, err = DecodeBody(TagProtocol, b)
	require.NoError(t, err)
	assert.Equal(t, 1000, cap(m.(ProtocolMessage).Protocol.Components))
	ops := make([]Operation, 1000)
	b, err = AppendBody(nil, OperationsForBlocks{Operations: ops})
	require.NoError(t, err)
	m, err = DecodeBody(TagOperationsForBlocks, b)
	require.NoError(t, err)
	assert.Equal(t, 1000, cap(m.(OperationsForBlocks).Operations))
}

// totalAlloc returns the bytes f allocates: the least of three runs, as
// the runtime's own goroutines may allocate during one.
func totalAlloc(f func()) int64 {
	least := int64(-1)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if n := int64(after.TotalAlloc - before.TotalAlloc); least < 0 || n < least {
			least = n
		}
	}
	return least
}
