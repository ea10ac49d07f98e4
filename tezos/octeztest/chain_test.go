package octeztest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

// linkErrors lists, for each block above genesis, what is wrong with it
// as a chain: hash, link or level.
func linkErrors(t *testing.T, c *octeztest.Chain) []string {
	t.Helper()
	var errs []string
	for i := 1; i < len(c.Headers); i++ {
		h, err := c.Headers[i].Hash()
		require.NoError(t, err)
		switch {
		case h != c.Hashes[i]:
			errs = append(errs, "hash")
		case c.Headers[i].Shell.Predecessor != c.Hashes[i-1]:
			errs = append(errs, "link")
		case c.Headers[i].Shell.Level != c.Headers[i-1].Shell.Level+1:
			errs = append(errs, "level")
		}
	}
	return errs
}

func TestNewChainIsValid(t *testing.T) {
	c := octeztest.NewChain("OCTEZTEST", 50)
	assert.Empty(t, linkErrors(t, c))
	assert.Equal(t, tezos.ChainIDOf(c.Genesis()), c.ID)
	g, err := c.Headers[0].Hash()
	require.NoError(t, err)
	assert.NotEqual(t, c.Genesis(), g, "as octez's, genesis hash is not its header's hash")
	assert.Equal(t, c.Genesis(), c.Headers[0].Shell.Predecessor)
	for i := 1; i < len(c.Headers); i++ {
		lists := make([]tezos.OperationListHash, octeztest.Passes)
		for p, ops := range c.Operations[i] {
			hs := make([]tezos.OperationHash, len(ops))
			for k := range ops {
				hs[k] = ops[k].Hash()
			}
			lists[p] = tezos.OperationListHashOf(hs)
		}
		assert.Equal(t, tezos.OperationsHashOf(lists), c.Headers[i].Shell.OperationsHash)
		assert.Less(t, c.Headers[i].Shell.Timestamp, int64(946684800), "before a synctest bubble's clock")
	}
	assert.Equal(t, c, octeztest.NewChain("OCTEZTEST", 50), "deterministic")
	assert.NotEqual(t, c.ID, octeztest.NewChain("OTHER", 50).ID)
}

func TestChainLies(t *testing.T) {
	c := octeztest.NewChain("OCTEZTEST", 10)
	wl := c.WithWrongLevel(4)
	assert.Equal(t, []string{"level"}, linkErrors(t, wl))
	assert.Equal(t, c.Hashes[:4], wl.Hashes[:4])
	bl := c.WithBrokenLink(4)
	assert.Equal(t, []string{"link"}, linkErrors(t, bl))
	_, ok := bl.Find(bl.Headers[4].Shell.Predecessor)
	assert.False(t, ok, "nobody has the missing predecessor")
	assert.Empty(t, linkErrors(t, c), "the original is untouched")
	assert.Panics(t, func() { c.WithBrokenLink(0) })
}

func TestNewNetworkChain(t *testing.T) {
	mainnet, _ := tezos.LookupNetwork("mainnet")
	c := octeztest.NewNetworkChain(mainnet, 5)
	assert.Equal(t, "TEZOS_MAINNET", c.Name)
	assert.Equal(t, mainnet.ChainID(), c.ID)
	g, _ := mainnet.GenesisHeader()
	assert.Equal(t, g, c.Headers[0])
	assert.Equal(t, mainnet.Genesis, c.Genesis())
	assert.Empty(t, linkErrors(t, c))
	assert.Equal(t, mainnet.Genesis, c.Headers[1].Shell.Predecessor)
}
