package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// MaxLocatorHistory is octez's block_locator_max_length (1000): the most
// block hashes a locator's history may hold.
const MaxLocatorHistory = 1000

// BlockLocator is a sparse description of a chain, à la Bitcoin (octez
// Block_locator.t): the current head, then predecessors' hashes at
// growing distances.
type BlockLocator struct {
	CurrentHead BlockHeader
	History     []BlockHash
}

// readBlockLocator reads octez Block_locator.bounded_encoding: obj2 (req
// "current_head" (dynamic_size block_header)) (req "history"
// (Variable.list ~max_length hash)). The history takes the rest of the
// region, so a locator is always last.
func readBlockLocator(r *dataenc.Reader, l *BlockLocator) {
	r.Field("current_head")
	readDynamicBlockHeader(r, &l.CurrentHead)
	r.Field("history")
	l.History = dataenc.VariableListMin(r, MaxLocatorHistory, HashSize, readBlockHash)
}

func appendBlockLocator(dst []byte, l *BlockLocator) ([]byte, error) {
	out, err := appendDynamicBlockHeader(dst, &l.CurrentHead)
	if err != nil {
		return dst, err
	}
	return dataenc.AppendVariableList(out, l.History, MaxLocatorHistory, appendBlockHash)
}
