package tezos

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vectors from octez's own encoding regression tests: the expected outputs
// of tezt/tests/expected/encoding.ml in tezos/tezos-mirror (MIT), where
// octez-codec encodes a JSON sample and decodes the bytes back. The
// *.raw encodings are exactly the shell's Block_header and Operation; the
// protocol ones (alpha.block_header, alpha.operation) are the shell part
// followed by protocol bytes, so they decode as the shell encodings too.

// "Alpha- protocol encoding regression test- block_header.raw.out".
const teztBlockHeaderRaw = "00000533010e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000005e9dcbb00242e9bc4583d4f9fa6ba422733f45d3a44397141a953d2237bf8df62e5046eef700000011000000010100000008000000000000000a4c7319284b55068bb7c4e0b9f8585729db7fb27ab4ca9cff2038a1fc324f650c521d101895ca00000000ff043691f53c02ca1ac6f1a0c1586bf77973e04c2d9b618a8309e79651daf0d55866804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c"

const teztBlockHeaderRawProtocolData = "521d101895ca00000000ff043691f53c02ca1ac6f1a0c1586bf77973e04c2d9b618a8309e79651daf0d55866804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c"

// "Alpha- protocol encoding regression test- block_header.out" and the
// Ithaca one: the same shell header with other protocol data.
var teztProtocolBlockHeaders = map[string]string{
	"alpha":  "00000533010e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000005e9dcbb00242e9bc4583d4f9fa6ba422733f45d3a44397141a953d2237bf8df62e5046eef700000011000000010100000008000000000000000a4c7319284b55068bb7c4e0b9f8585729db7fb27ab4ca9cff2038a1fc324f650c000000000000000000000000000000000000000000000000000000000000000000000000101895ca00000000ff043691f53c02ca1ac6f1a0c1586bf77973e04c2d9b618a8309e79651daf0d5580166804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"ithaca": "00000533010e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000005e9dcbb00242e9bc4583d4f9fa6ba422733f45d3a44397141a953d2237bf8df62e5046eef700000011000000010100000008000000000000000a4c7319284b55068bb7c4e0b9f8585729db7fb27ab4ca9cff2038a1fc324f650c000000000000000000000000000000000000000000000000000000000000000000000000101895ca00000000ff043691f53c02ca1ac6f1a0c1586bf77973e04c2d9b618a8309e79651daf0d5580066804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
}

// "Alpha- protocol encoding regression test- operation.raw.out".
const (
	teztOperationRaw     = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000053366804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c"
	teztOperationRawData = "000000053366804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c"
)

// A few of "Alpha- protocol encoding regression test- operation.out".
var teztProtocolOperations = map[string]string{
	"activate-account":         "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a804c55cf02dbeecc978d9c84625dcae72bb77ea4fbd41f98b15efc63fa893d61d7d6eee4a2ce9427ac466804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"attestation":              "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a81500000000053300000000000000000000000000000000000000000000000000000000000000000000000066804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"ballot":                   "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8060002298c03ed7d454a101eb7022bc95f7e5f41ac78000002cf7663cf120f3dc8189d5dc7d4d7a0483bcc53f3f18e700f5a2f5076aa8b9dc55c0066804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"delegation":               "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a86e0002298c03ed7d454a101eb7022bc95f7e5f41ac7821dc05edecc004adcacdb7d401ff0002298c03ed7d454a101eb7022bc95f7e5f41ac7866804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"batch-reveal-transaction": "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed842426e5cab86b00ba3bed311a5d7b06dc4daf3c94c5c406927e4bcf940202ab0100009d05b06ea36a6ad464d94dc07a38b77b80b577c1ae51bbd8d20105cd5aed496c006c00ba3bed311a5d7b06dc4daf3c94c5c406927e4bcfed0203b51000c0843d000002298c03ed7d454a101eb7022bc95f7e5f41ac78006c7157e12e95a182e2d6caa7c7d275faf1dbaf97ec974b89c1ca1e27b43d063b975a4425b0c88d4cc00d88df6c6ca0328bfbd329a53eef6b59506e5cbc7dc90b",
	"double-baking-evidence":   "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a803000000f100000533010e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000005e9dcbb00442e9bc4583d4f9fa6ba422733f45d3a44397141a953d2237bf8df62e5046eef700000011000000010100000008000000000000000a4c7319284b55068bb7c4e0b9f8585729db7fb27ab4ca9cff2038a1fc324f650c000000000000000000000000000000000000000000000000000000000000000000000000101895ca00000000000166804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c000000f100000533010e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8000000005e9dcbb00442e9bc4583d4f9fa6ba422733f45d3a44397141a953d2237bf8df62e5046eef700000011000000010100000008000000000000000a4c7319284b55068bb7c4e0b9f8585729db7fb27ab4ca9cff2038a1fc324f650c000000000000000000000000000000000000000000000000000000000000000000000000101895ca00000000000166804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c66804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"delegation-withdrawal":    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a86e0002298c03ed7d454a101eb7022bc95f7e5f41ac7821dc05edecc004adcacdb7d4010066804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
	"attestation-with-dal":     "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a817000000000533000000000000000000000000000000000000000000000000000000000000000000000000802066804fe735e06e97e26da8236b6341b91c625d5e82b3524ec0a88cc982365e70f8a5b9bc65df2ea6d21ee244cc3a96fb33031c394c78b1179ff1b8a44237740c",
}

func mustUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// teztShell is the shell header of every block_header sample, as the
// JSON octez-codec prints.
func checkTeztShell(t *testing.T, s *ShellHeader) {
	t.Helper()
	assert.Equal(t, int32(1331), s.Level)
	assert.Equal(t, uint8(1), s.Proto)
	assert.Equal(t, "BKpbfCvh777DQHnXjU2sqHvVUNZ7dBAdqEfKkdw8EGSkD9LSYXb", s.Predecessor.String())
	assert.Equal(t, time.Date(2020, 4, 20, 16, 20, 0, 0, time.UTC).Unix(), s.Timestamp)
	assert.Equal(t, uint8(2), s.ValidationPasses)
	assert.Equal(t, "LLoZqBDX1E2ADRXbmwYo8VtMNeHG6Ygzmm4Zqv97i91UPBQHy9Vq3", s.OperationsHash.String())
	assert.Equal(t, [][]byte{{0x01}, {0, 0, 0, 0, 0, 0, 0, 0x0a}}, s.Fitness)
	assert.Equal(t, "CoVDyf9y9gHfAkPWofBJffo4X4bWjmehH2LeVonDcCKKzyQYwqdk", s.Context.String())
}

func TestTeztBlockHeaderRaw(t *testing.T) {
	in := mustUnhex(t, teztBlockHeaderRaw)
	h, err := BlockHeaderCodec.Decode(in)
	require.NoError(t, err)
	checkTeztShell(t, &h.Shell)
	assert.Equal(t, teztBlockHeaderRawProtocolData, hex.EncodeToString(h.ProtocolData))
	out, err := BlockHeaderCodec.Encode(nil, &h)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	// The parsers invert String on the same texts.
	pred, err := ParseBlockHash("BKpbfCvh777DQHnXjU2sqHvVUNZ7dBAdqEfKkdw8EGSkD9LSYXb")
	require.NoError(t, err)
	assert.Equal(t, h.Shell.Predecessor, pred)
	ops, err := ParseOperationListListHash("LLoZqBDX1E2ADRXbmwYo8VtMNeHG6Ygzmm4Zqv97i91UPBQHy9Vq3")
	require.NoError(t, err)
	assert.Equal(t, h.Shell.OperationsHash, ops)
	ctx, err := ParseContextHash("CoVDyf9y9gHfAkPWofBJffo4X4bWjmehH2LeVonDcCKKzyQYwqdk")
	require.NoError(t, err)
	assert.Equal(t, h.Shell.Context, ctx)
}

func TestTeztProtocolBlockHeaders(t *testing.T) {
	for name, s := range teztProtocolBlockHeaders {
		t.Run(name, func(t *testing.T) {
			in := mustUnhex(t, s)
			m, err := DecodeBody(TagBlockHeader, in)
			require.NoError(t, err)
			bh := m.(BlockHeaderMessage)
			checkTeztShell(t, &bh.Header.Shell)
			out, err := AppendBody(nil, m)
			require.NoError(t, err)
			assert.Equal(t, in, out)
		})
	}
}

func TestTeztOperations(t *testing.T) {
	in := mustUnhex(t, teztOperationRaw)
	o, err := OperationCodec.Decode(in)
	require.NoError(t, err)
	assert.Equal(t, "BKpbfCvh777DQHnXjU2sqHvVUNZ7dBAdqEfKkdw8EGSkD9LSYXb", o.Branch.String())
	assert.Equal(t, teztOperationRawData, hex.EncodeToString(o.Data))
	out, err := OperationCodec.Encode(nil, &o)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	for name, s := range teztProtocolOperations {
		t.Run(name, func(t *testing.T) {
			in := mustUnhex(t, s)
			m, err := DecodeBody(TagOperation, in)
			require.NoError(t, err)
			branch := m.(OperationMessage).Operation.Branch
			assert.Equal(t, in[:HashSize], branch[:])
			out, err := AppendBody(nil, m)
			require.NoError(t, err)
			assert.Equal(t, in, out)
		})
	}
}
