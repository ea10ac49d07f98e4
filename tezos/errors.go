package tezos

import (
	"strconv"

	"github.com/p2ppool/p2ppool/dataenc"
)

// Decoding errors are *dataenc.DecodeError wrapping the dataenc sentinels
// (dataenc.ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid);
// encoding errors are *dataenc.EncodeError. Match them with errors.Is.

func tooLarge(what string, n, max int) error {
	return &dataenc.EncodeError{What: what + " of " + strconv.Itoa(n) + " bytes over " + strconv.Itoa(max), Err: dataenc.ErrTooLarge}
}

func itoa(n int) string { return strconv.Itoa(n) }
