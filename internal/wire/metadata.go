package wire

import "github.com/p2ppool/p2ppool/dataenc"

// MetadataSize is the encoded size of Metadata.
const MetadataSize = 2

// Metadata is octez Connection_metadata, the first encrypted chunk each
// side sends.
type Metadata struct {
	// DisableMempool: the sender runs without a mempool, so it is sent
	// Current_head with an empty mempool.
	DisableMempool bool
	// PrivateNode: the sender is in private mode; its point must never be
	// advertised and its Bootstrap gets no reply.
	PrivateNode bool
}

// Append appends the two booleans as 0x00/0xFF.
func (m Metadata) Append(dst []byte) []byte {
	dst = dataenc.AppendBool(dst, m.DisableMempool)
	return dataenc.AppendBool(dst, m.PrivateNode)
}

// DecodeMetadata decodes exactly MetadataSize bytes (the whole plaintext of
// the chunk: octez rejects extra bytes). Any non-zero byte is true, as in
// octez, so only 0x00/0xFF inputs re-encode identically.
func DecodeMetadata(b []byte) (Metadata, error) {
	var m Metadata
	r := dataenc.MakeReader(b)
	r.Field("disable_mempool")
	m.DisableMempool = r.Bool()
	r.Field("private_node")
	m.PrivateNode = r.Bool()
	if err := r.Finish("metadata"); err != nil {
		return Metadata{}, err
	}
	return m, nil
}
