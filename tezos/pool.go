package tezos

import (
	"bytes"

	"github.com/p2ppool/p2ppool"
)

// This file is the only glue to the root package's API, kept small on
// purpose: that API may be reshaped.

// MessageConfig returns the whole message set as a p2ppool message
// configuration for chainName (e.g. "TEZOS_MAINNET"), announcing
// DistributedDBVersions. Each encoding's MaxLength and DecodedSize are
// its Kind's, so the pool's incoming budgets count a message at what its
// decoded form may hold, not only at its wire size.
func MessageConfig(chainName string) p2ppool.MessageConfig[Message] {
	encs := make([]p2ppool.Encoding[Message], 0, len(kinds))
	for _, k := range kinds {
		encs = append(encs, p2ppool.Encoding[Message]{
			Tag:       k.Tag,
			Name:      k.Name,
			MaxLength: k.MaxLength,
			Encode: func(dst []byte, m Message) ([]byte, bool, error) {
				if m == nil || m.Tag() != k.Tag {
					return dst, false, nil
				}
				out, err := AppendBody(dst, m)
				return out, true, err
			},
			Decode: func(body []byte) (Message, error) {
				// The pool reuses body after the call; decoded values
				// alias their input, so they get their own copy.
				return DecodeBody(k.Tag, bytes.Clone(body))
			},
			DecodedSize: k.DecodedSize,
		})
	}
	return p2ppool.MessageConfig[Message]{
		Encodings:             encs,
		ChainName:             chainName,
		DistributedDBVersions: append([]uint16(nil), DistributedDBVersions...),
	}
}
