package tezos

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/dataenc"
)

// TestRoundTripProperty: for random messages of every kind, decode(encode
// m) == m, and the encoding is within the kind's MaxLength.
func TestRoundTripProperty(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			g := newGen(uint64(k.Tag))
			for range 200 {
				m := g.message(k.Tag)
				require.Equal(t, k.Tag, m.Tag())
				body, err := AppendBody(nil, m)
				require.NoError(t, err)
				require.LessOrEqual(t, len(body), k.MaxLength)
				got, err := DecodeBody(k.Tag, body)
				require.NoError(t, err)
				require.Equal(t, m, got)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	want := map[uint16]string{
		0x10: "Get_current_branch", 0x11: "Current_branch", 0x12: "Deactivate", 0x13: "Get_current_head",
		0x14: "Current_head", 0x20: "Get_block_headers", 0x21: "Block_header", 0x30: "Get_operations",
		0x31: "Operation", 0x40: "Get_protocols", 0x41: "Protocol", 0x60: "Get_operations_for_blocks",
		0x61: "Operations_for_blocks", 0x70: "Get_checkpoint", 0x71: "Checkpoint", 0x80: "Get_protocol_branch",
		0x81: "Protocol_branch", 0x90: "Get_predecessor_header", 0x91: "Predecessor_header",
	}
	got := map[uint16]string{}
	for _, k := range Kinds() {
		got[k.Tag] = k.Name
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 100, maxPathSize, "log2(8) × 33 + 1")
	assert.Equal(t, 128008, maxMempoolSize)
	assert.Equal(t, []uint16{0, 1, 2}, DistributedDBVersions)

	_, err := DecodeBody(0x50, nil)
	require.ErrorIs(t, err, ErrUnknownTag)
	require.ErrorIs(t, err, dataenc.ErrInvalid)
}

// TestBounds: each bound octez sets is enforced on decoding (before the
// bytes it guards are read) and on encoding.
func TestBounds(t *testing.T) {
	g := newGen(99)
	hashes := func(n int) []BlockHash {
		hs := make([]BlockHash, n)
		for i := range hs {
			hs[i] = g.hash()
		}
		return hs
	}
	// Encoders refuse what octez's writer refuses.
	encodeErr := []struct {
		name string
		m    Message
	}{
		{"11 block headers requested", GetBlockHeaders{hashes(11)}},
		{"11 operations requested", GetOperations{make([]OperationHash, 11)}},
		{"11 protocols requested", GetProtocols{make([]ProtocolHash, 11)}},
		{"11 operation lists requested", GetOperationsForBlocks{make([]BlockPass, 11)}},
		{"locator of 1001 hashes", CurrentBranch{Locator: BlockLocator{History: hashes(1001)}}},
		{"mempool of 4001 operations", CurrentHead{Mempool: Mempool{KnownValid: make([]OperationHash, 4001)}}},
		{"operation over 128 KiB", OperationMessage{Operation{Data: make([]byte, MaxOperationSize)}}},
		{"header over 8 MiB", BlockHeaderMessage{BlockHeader{ProtocolData: make([]byte, MaxBlockHeaderSize)}}},
		{"operations over 1 MiB", OperationsForBlocks{Operations: []Operation{{Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}, {Data: make([]byte, 100_000)}}}},
		{"path of 4 levels", OperationsForBlocks{Path: make(OperationsPath, 4)}},
		{"protocol over 2 MiB", ProtocolMessage{Protocol{Components: []ProtocolComponent{{Implementation: strings.Repeat("x", MaxProtocolSize)}}}}},
	}
	for _, tt := range encodeErr {
		t.Run("encode "+tt.name, func(t *testing.T) {
			out, err := AppendBody([]byte{7}, tt.m)
			require.ErrorIs(t, err, dataenc.ErrTooLarge)
			var ee *dataenc.EncodeError
			require.True(t, errors.As(err, &ee))
			assert.Equal(t, []byte{7}, out, "dst unchanged")
		})
	}

	// Decoders refuse the same, from the bytes octez would refuse.
	list := func(n, size int) []byte {
		b := dataenc.AppendUint32(nil, uint32(n*size))
		return append(b, make([]byte, n*size)...)
	}
	header, err := BlockHeaderCodec.Encode(nil, &BlockHeader{})
	require.NoError(t, err)
	dynHeader := dataenc.AppendBytes(nil, header)
	decodeErr := []struct {
		name  string
		tag   uint16
		body  []byte
		want  error
		field string
	}{
		{"11 block headers requested", TagGetBlockHeaders, list(11, 32), dataenc.ErrTooLarge, "body of 356 bytes"},
		{"list prefix over 10 × 32", TagGetOperations, dataenc.AppendUint32(nil, 1<<20), dataenc.ErrTooLarge, "get_operations"},
		{"11 operation lists requested", TagGetOperationsForBlocks, list(11, 33), dataenc.ErrTooLarge, "body of 367 bytes"},
		{"list of 10 with a byte prefix of 11", TagGetBlockHeaders, append(dataenc.AppendUint32(nil, 11*32), make([]byte, 10*32)...), dataenc.ErrTooLarge, "get_block_headers"},
		{"locator of 1001 hashes", TagCurrentBranch, append(append(make([]byte, 4), dynHeader...), make([]byte, 1001*32)...), dataenc.ErrTooLarge, "history"},
		{"header prefix over 8 MiB", TagCurrentHead, append(make([]byte, 4), dataenc.AppendUint32(nil, MaxBlockHeaderSize+1)...), dataenc.ErrTooLarge, "current_block_header"},
		{"mempool over its check_size", TagCurrentHead, append(append(append(make([]byte, 4), dynHeader...), list(4001, 32)...), 0, 0, 0, 4, 0, 0, 0, 0), dataenc.ErrTooLarge, "known_valid"},
		{"body over MaxLength", TagOperation, make([]byte, MaxOperationSize+1), dataenc.ErrTooLarge, ""},
		{"path of 4 levels", TagOperationsForBlocks, append(append(make([]byte, 33), 0xF0, 0xF0, 0xF0, 0xF0, 0), make([]byte, 4*32)...), dataenc.ErrTooLarge, "operation_hashes_path"},
		{"bad path tag", TagOperationsForBlocks, append(make([]byte, 33), 0x01), dataenc.ErrInvalid, "operation_hashes_path"},
		{"operation prefix past input", TagOperationsForBlocks, append(make([]byte, 34), 0, 0, 0, 40, 1), dataenc.ErrTruncated, "operations"},
		{"truncated chain id", TagGetCurrentBranch, []byte{1, 2, 3}, dataenc.ErrTruncated, "chain_id"},
		{"trailing bytes", TagDeactivate, []byte{1, 2, 3, 4, 5}, dataenc.ErrTooLarge, ""},
		{"trailing bytes in a request", TagGetPredecessorHeader, append(make([]byte, 36), 9), dataenc.ErrTooLarge, ""},
		{"fitness prefix past header", TagBlockHeader, append(make([]byte, 4+1+32+8+1+32), 0, 0, 0, 9), dataenc.ErrTruncated, "fitness"},
	}
	for _, tt := range decodeErr {
		t.Run("decode "+tt.name, func(t *testing.T) {
			m, err := DecodeBody(tt.tag, tt.body)
			assert.Nil(t, m)
			require.ErrorIs(t, err, tt.want)
			var de *dataenc.DecodeError
			require.True(t, errors.As(err, &de))
			assert.Contains(t, de.What, tt.field)
		})
	}

	// Trailing bytes within MaxLength: the message is whole, then more.
	body, err := AppendBody(nil, GetBlockHeaders{hashes(2)})
	require.NoError(t, err)
	_, err = DecodeBody(TagGetBlockHeaders, append(body, 0))
	require.ErrorIs(t, err, dataenc.ErrTrailingBytes)
}

// TestDecodeAliasesInput documents that byte fields alias the input, and
// that a decode of fixed fields allocates nothing but the message.
func TestDecodeAliasesInput(t *testing.T) {
	in := mustUnhex(t, teztOperationRaw)
	o, err := OperationCodec.Decode(in)
	require.NoError(t, err)
	in[HashSize] ^= 0xFF
	assert.Equal(t, in[HashSize], o.Data[0])
	assert.Equal(t, len(o.Data), cap(o.Data))

	body, err := AppendBody(nil, GetPredecessorHeader{Offset: 3})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeBody(TagGetPredecessorHeader, body); err != nil {
			panic(err)
		}
	})
	// The message boxed in its interface, and the Reader, which escapes
	// through the kind's read function.
	assert.LessOrEqual(t, allocs, 2.0)
}
