package tezos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chain identifiers octez derives from the genesis hashes, as its
// RPCs print them (mainnet NetXdQprcVkpaWU, ghostnet NetXnHfVqm9iesp).
func TestNetworksChainIDs(t *testing.T) {
	want := map[string]string{"mainnet": "NetXdQprcVkpaWU", "ghostnet": "NetXnHfVqm9iesp"}
	for _, n := range Networks() {
		assert.Equal(t, want[n.Alias], n.ChainID().String(), n.Alias)
		got, ok := LookupNetwork(n.ChainName)
		require.True(t, ok)
		assert.Equal(t, n.Alias, got.Alias)
		got, ok = LookupNetwork(n.Alias)
		require.True(t, ok)
		assert.Equal(t, n.ChainName, got.ChainName)
	}
	_, ok := LookupNetwork("TEZOS_NOWHERE")
	assert.False(t, ok)
}

func TestMainnetGenesisHeader(t *testing.T) {
	n, ok := LookupNetwork("TEZOS_MAINNET")
	require.True(t, ok)
	h, ok := n.GenesisHeader()
	require.True(t, ok)
	assert.Equal(t, int64(1530374852), h.Shell.Timestamp)
	assert.Equal(t, n.Genesis, h.Shell.Predecessor, "genesis' predecessor is genesis")
	assert.Equal(t, "LLoZS2LW3rEi7KYU4ouBQtorua37aWWCtpDmv1n2x3xoKi6sVXLWp", h.Shell.OperationsHash.String())
	assert.Equal(t, "CoV8SQumiVU9saiu3FVNeDNewJaJH8yWdsGF3WLdsRr2P9S7MzCj", h.Shell.Context.String())

	// It travels as any header: encode, decode, same value.
	b, err := BlockHeaderCodec.Encode(nil, &h)
	require.NoError(t, err)
	assert.Len(t, b, 4+1+32+8+1+32+4+32, "shell fields, empty fitness, no protocol data")
	back, err := BlockHeaderCodec.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, h.Shell.Context, back.Shell.Context)
	assert.Empty(t, back.Shell.Fitness)

	g, _ := LookupNetwork("ghostnet")
	_, ok = g.GenesisHeader()
	assert.False(t, ok, "ghostnet's genesis context is not in the table")
}
