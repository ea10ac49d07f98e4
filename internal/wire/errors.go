package wire

import "github.com/p2ppool/p2ppool/dataenc"

// The sentinels below classify every decoding failure. Callers (the socket
// layer deciding whether to greylist a peer, tests) match them with
// errors.Is; the *DecodeError wrapping them says where it happened. They
// are package dataenc's, whose Reader does the reading.
var (
	// ErrTruncated reports that the input ended before a value was complete.
	ErrTruncated = dataenc.ErrTruncated
	// ErrTrailingBytes reports bytes left over after a complete value, which
	// octez rejects (Data_encoding Extra_bytes).
	ErrTrailingBytes = dataenc.ErrTrailingBytes
	// ErrTooLarge reports a length or count beyond the limit octez enforces
	// (uint30 strings, check_size, list max_length, frame sizes).
	ErrTooLarge = dataenc.ErrTooLarge
	// ErrInvalid reports a well-sized but unacceptable value: an unknown
	// union tag, a point text octez cannot parse, a length field whose value
	// is impossible.
	ErrInvalid = dataenc.ErrInvalid
)

// DecodeError is the error type every decoder in this package returns:
// package dataenc's, whose Reader does the reading. It names what was being
// decoded, and Unwrap exposes only the sentinel.
type DecodeError = dataenc.DecodeError

// EncodeError is returned by the few encoders that can fail (a value whose
// size the wire format cannot express); package dataenc's too.
type EncodeError = dataenc.EncodeError

// decodeErr builds a *DecodeError; what and field are joined with ": "
// when field is non-empty. Only called on failure paths, so the string
// concatenation's allocation never touches successful decodes.
func decodeErr(what, field string, err error) error {
	if field != "" {
		what += ": " + field
	}
	return &DecodeError{What: what, Err: err}
}
