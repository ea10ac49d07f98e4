package tezos

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

func TestChainIDText(t *testing.T) {
	// Tezos mainnet, and carthagenet (the recorded session's chain).
	for _, c := range []struct {
		id   ChainID
		text string
	}{
		{ChainID{0x7a, 0x06, 0xa7, 0x70}, "NetXdQprcVkpaWU"},
		{ChainID{0x9c, 0xae, 0xca, 0xb9}, "NetXjD3HPJJjmcd"},
	} {
		assert.Equal(t, c.text, c.id.String())
		got, err := ParseChainID(c.text)
		require.NoError(t, err)
		assert.Equal(t, c.id, got)
	}
}

func TestHashTextPrefixes(t *testing.T) {
	// Every value of a kind prints with the kind's letters (octez's
	// Base58 prefixes are chosen so), and parses back.
	var fill [HashSize]byte
	for i := range fill {
		fill[i] = byte(i * 37)
	}
	for _, c := range []struct {
		lead  string
		text  string
		parse func(string) (any, error)
		want  any
	}{
		{"B", BlockHash(fill).String(), func(s string) (any, error) { return ParseBlockHash(s) }, BlockHash(fill)},
		{"o", OperationHash(fill).String(), func(s string) (any, error) { return ParseOperationHash(s) }, OperationHash(fill)},
		{"LLo", OperationListListHash(fill).String(), func(s string) (any, error) { return ParseOperationListListHash(s) }, OperationListListHash(fill)},
		{"P", ProtocolHash(fill).String(), func(s string) (any, error) { return ParseProtocolHash(s) }, ProtocolHash(fill)},
		{"Co", ContextHash(fill).String(), func(s string) (any, error) { return ParseContextHash(s) }, ContextHash(fill)},
	} {
		assert.True(t, strings.HasPrefix(c.text, c.lead), "%s starts with %s", c.text, c.lead)
		got, err := c.parse(c.text)
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
	// A hash of another kind is refused by its prefix.
	_, err := ParseOperationHash(BlockHash(fill).String())
	require.ErrorIs(t, err, crypto.ErrBase58Prefix)
}

func TestTextForms(t *testing.T) {
	g := newGen(11)
	for _, v := range []interface {
		MarshalText() ([]byte, error)
	}{ChainID(g.chain()), BlockHash(g.hash()), OperationHash(g.hash()), OperationListHash(g.hash()),
		OperationListListHash(g.hash()), ProtocolHash(g.hash()), ContextHash(g.hash())} {
		text, err := v.MarshalText()
		require.NoError(t, err)
		var back interface{ UnmarshalText([]byte) error }
		switch v.(type) {
		case ChainID:
			back = new(ChainID)
		case BlockHash:
			back = new(BlockHash)
		case OperationHash:
			back = new(OperationHash)
		case OperationListHash:
			back = new(OperationListHash)
		case OperationListListHash:
			back = new(OperationListListHash)
		case ProtocolHash:
			back = new(ProtocolHash)
		case ContextHash:
			back = new(ContextHash)
		}
		require.NoError(t, back.UnmarshalText(text))
		again, err := back.(interface{ MarshalText() ([]byte, error) }).MarshalText()
		require.NoError(t, err)
		assert.Equal(t, text, again)
		assert.Error(t, back.UnmarshalText(append(text, 'x')))
	}
	assert.True(t, strings.HasPrefix(OperationListHash{}.String(), "Lo"))
}
