package dataenc

import (
	"errors"
	"strings"
)

// The sentinels below classify every decoding failure; match them with
// errors.Is. The *DecodeError wrapping them says what and which field.
var (
	// ErrTruncated reports that the input (or the enclosing dynamic_size
	// region) ended before a value was complete (octez Not_enough_data).
	ErrTruncated = errors.New("dataenc: truncated input")
	// ErrTrailingBytes reports bytes left over after a complete value or
	// inside a dynamic_size region (octez Extra_bytes).
	ErrTrailingBytes = errors.New("dataenc: trailing bytes")
	// ErrTooLarge reports a length, count or size beyond a limit: uint30
	// lengths, check_size, list max_length (octez Size_limit_exceeded,
	// List_too_long).
	ErrTooLarge = errors.New("dataenc: size exceeds limit")
	// ErrInvalid reports a well-sized but unacceptable value: an unknown
	// union tag, an out-of-range ranged integer, a zarith number with a
	// trailing zero byte, an empty list element.
	ErrInvalid = errors.New("dataenc: invalid value")
)

// DecodeError is the error every decoder of this package returns. It names
// what was decoded and the failing field; Unwrap exposes only the sentinel,
// so errors.Is stays the one way to classify.
type DecodeError struct {
	// What is the thing decoded, then the field that failed, joined by
	// ": ", e.g. "block header: fitness".
	What string
	// Err is one of ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid.
	Err error
}

// Error formats as "dataenc: decode <What>: <sentinel text>".
func (e *DecodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "dataenc: ")
	}
	return "dataenc: decode " + e.What + ": " + msg
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError is returned by encoders given a value the format cannot
// express (a length beyond its prefix, a list beyond its max_length).
type EncodeError struct {
	// What is the thing encoded and why it failed.
	What string
	// Err is the sentinel, ErrTooLarge or ErrInvalid.
	Err error
}

// Error formats as "dataenc: encode <What>: <sentinel text>".
func (e *EncodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "dataenc: ")
	}
	return "dataenc: encode " + e.What + ": " + msg
}

// Unwrap returns the sentinel.
func (e *EncodeError) Unwrap() error { return e.Err }

// decodeErr builds a *DecodeError, only on failure paths.
func decodeErr(what, field string, err error) error {
	if field != "" {
		what += ": " + field
	}
	return &DecodeError{What: what, Err: err}
}
