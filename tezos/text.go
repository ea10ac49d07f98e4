package tezos

// Text forms, so the hash types read and write as their base58check
// strings in JSON, flags and logs.

// MarshalText implements encoding.TextMarshaler.
func (h ChainID) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *ChainID) UnmarshalText(b []byte) error { return parseHash(string(b), prefixChainID, h[:]) }

// MarshalText implements encoding.TextMarshaler.
func (h BlockHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *BlockHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixBlockHash, h[:])
}

// MarshalText implements encoding.TextMarshaler.
func (h OperationHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *OperationHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixOperationHash, h[:])
}

// MarshalText implements encoding.TextMarshaler.
func (h OperationListHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *OperationListHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixOperationListHash, h[:])
}

// MarshalText implements encoding.TextMarshaler.
func (h OperationListListHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *OperationListListHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixOperationListListHash, h[:])
}

// MarshalText implements encoding.TextMarshaler.
func (h ProtocolHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *ProtocolHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixProtocolHash, h[:])
}

// MarshalText implements encoding.TextMarshaler.
func (h ContextHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *ContextHash) UnmarshalText(b []byte) error {
	return parseHash(string(b), prefixContextHash, h[:])
}
