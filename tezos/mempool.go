package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// MaxMempoolOperations is octez's mempool_max_operations (4000): the
// mempool of a Current_head is bounded to 8 + 4000 × 32 bytes.
const MaxMempoolOperations = 4000

// maxMempoolSize is octez Mempool.bounded_encoding's check_size.
const maxMempoolSize = 8 + MaxMempoolOperations*HashSize

// Mempool is the gossiped part of a node's mempool (octez Mempool.t).
type Mempool struct {
	KnownValid []OperationHash
	// Pending is an Operation_hash.Set in octez, which writes it sorted;
	// it is kept here in wire order so that decoding then encoding gives
	// back the same bytes.
	Pending []OperationHash
}

// readMempool reads octez Mempool.bounded_encoding: obj2 (req
// "known_valid" (list hash)) (req "pending" (dynamic_size (list hash))),
// within its check_size.
func readMempool(r *dataenc.Reader, m *Mempool) {
	c := r.BeginCheckSize(maxMempoolSize)
	r.Field("known_valid")
	// octez gives neither list a max_length: the check_size bounds both
	// to 4000 hashes between them.
	m.KnownValid = dataenc.ListMin(r, dataenc.NoLimit, dataenc.NoLimit, HashSize, readOperationHash)
	r.Field("pending")
	s := r.BeginDynamic(dataenc.NoLimit)
	m.Pending = dataenc.ListMin(r, dataenc.NoLimit, dataenc.NoLimit, HashSize, readOperationHash)
	r.End(s)
	r.End(c)
}

func appendMempool(dst []byte, m *Mempool) ([]byte, error) {
	start := len(dst)
	out, err := dataenc.AppendList(dst, m.KnownValid, dataenc.NoLimit, appendOperationHash)
	if err != nil {
		return dst, err
	}
	out, s := dataenc.BeginDynamic(out)
	out, err = dataenc.AppendList(out, m.Pending, dataenc.NoLimit, appendOperationHash)
	if err != nil {
		return dst, err
	}
	if out, err = dataenc.EndDynamic(out, s); err != nil {
		return dst, err
	}
	if n := len(out) - start; n > maxMempoolSize {
		return dst, tooLarge("mempool", n, maxMempoolSize)
	}
	return out, nil
}
