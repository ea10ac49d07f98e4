package wire

import (
	"strings"

	"github.com/p2ppool/p2ppool/dataenc"
)

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

// sentinelText is a sentinel's message without its package prefix.
func sentinelText(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "dataenc: ")
	return strings.TrimPrefix(msg, "wire: ")
}

// DecodeError is the error type every decoder in this package returns. It
// names what was being decoded so logs are useful, while Unwrap exposes
// only the sentinel so that errors.Is stays the single way to classify.
type DecodeError struct {
	// What is the thing being decoded, optionally followed by the field or
	// element that failed, e.g. "connection message: chain_name".
	What string
	// Err is one of ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid.
	Err error
}

// Error formats as "wire: decode <What>: <sentinel text>", with the
// sentinel's own "wire: " prefix dropped so it is not repeated.
func (e *DecodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = sentinelText(e.Err)
	}
	return "wire: decode " + e.What + ": " + msg
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// decodeErr builds a *DecodeError; what and field are joined with ": "
// when field is non-empty. Only called on failure paths, so the string
// concatenation's allocation never touches successful decodes.
func decodeErr(what, field string, err error) error {
	if field != "" {
		what += ": " + field
	}
	return &DecodeError{What: what, Err: err}
}

// EncodeError is returned by the few encoders that can fail (a value whose
// size the wire format cannot express). Like DecodeError, it unwraps to a
// package sentinel.
type EncodeError struct {
	// What is the thing being encoded and why it failed.
	What string
	// Err is the sentinel, ErrTooLarge or ErrInvalid.
	Err error
}

// Error formats as "wire: encode <What>: <sentinel text>".
func (e *EncodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = sentinelText(e.Err)
	}
	return "wire: encode " + e.What + ": " + msg
}

// Unwrap returns the sentinel.
func (e *EncodeError) Unwrap() error { return e.Err }
