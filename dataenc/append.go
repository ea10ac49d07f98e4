package dataenc

import (
	"encoding/binary"
	"math"
	"strconv"
)

// The Append functions are the writer: each appends the binary form of a
// value to dst and returns the extended slice, allocating only when dst
// lacks capacity. They are the exact inverse of the Reader methods of the
// same name.

// AppendUint8 appends v.
func AppendUint8(dst []byte, v uint8) []byte { return append(dst, v) }

// AppendInt8 appends v as one two's complement byte.
func AppendInt8(dst []byte, v int8) []byte { return append(dst, byte(v)) }

// AppendUint16 appends v big-endian.
func AppendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

// AppendInt16 appends v big-endian, two's complement.
func AppendInt16(dst []byte, v int16) []byte { return binary.BigEndian.AppendUint16(dst, uint16(v)) }

// AppendUint32 appends v big-endian.
func AppendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// AppendInt32 appends v big-endian, two's complement.
func AppendInt32(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }

// AppendUint64 appends v big-endian.
func AppendUint64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

// AppendInt64 appends v big-endian, two's complement.
func AppendInt64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// AppendBool appends 0xFF for true and 0x00 for false, the only bytes the
// octez writer emits.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xFF)
	}
	return append(dst, 0x00)
}

// AppendOpt appends the presence byte of an optional object field (0xFF
// present, 0x00 absent); the value, if present, follows.
func AppendOpt(dst []byte, present bool) []byte { return AppendBool(dst, present) }

// AppendOption appends the tag of octez's `option` combinator (1 Some,
// 0 None); the value, if present, follows.
func AppendOption(dst []byte, some bool) []byte {
	if some {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendRangedInt appends v as octez ranged_int min max (see
// Reader.RangedInt). The caller keeps v in [min, max].
func AppendRangedInt(dst []byte, v, min, max int) []byte {
	if min > 0 {
		v -= min
	}
	switch rangedIntSize(min, max) {
	case rangedInt8, rangedUint8:
		return append(dst, byte(v))
	case rangedInt16, rangedUint16:
		return AppendUint16(dst, uint16(v))
	default:
		return AppendUint32(dst, uint32(v))
	}
}

// AppendUint30 appends v as octez uint30, refusing (an *EncodeError
// wrapping ErrInvalid, dst unchanged) a value outside [0, MaxLength] as
// octez's writer does (binary_writer.ml 106, binary_size.ml 92), though
// its reader accepts more (see Reader.Uint30).
func AppendUint30(dst []byte, v int) ([]byte, error) {
	if v < 0 || v > MaxLength {
		return dst, &EncodeError{What: "uint30 " + strconv.Itoa(v) + " outside [0, 2^30-1]", Err: ErrInvalid}
	}
	return AppendUint32(dst, uint32(v)), nil
}

// AppendBytes appends b as octez bytes: uint30 length, then b. The caller
// keeps len(b) <= MaxLength (and within the enclosing bounds).
func AppendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendString is AppendBytes for a string (octez string).
func AppendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// BeginDynamic appends a 4-byte placeholder for the length prefix of
// `dynamic_size e` (or of a list, bytes written piecewise) and returns the
// offset EndDynamic needs. Write the contents in between.
func BeginDynamic(dst []byte) ([]byte, int) { return append(dst, 0, 0, 0, 0), len(dst) }

// EndDynamic fills in the prefix opened at start with the number of bytes
// written since. Contents over MaxLength fail with an *EncodeError
// wrapping ErrTooLarge, and dst is returned cut back to start.
func EndDynamic(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - 4
	if n > MaxLength {
		return dst[:start], &EncodeError{What: "dynamic_size of " + strconv.Itoa(n) + " bytes", Err: ErrTooLarge}
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// BeginDynamic8 is BeginDynamic for `dynamic_size ~kind:`Uint8`.
func BeginDynamic8(dst []byte) ([]byte, int) { return append(dst, 0), len(dst) }

// EndDynamic8 is EndDynamic for a one-byte prefix (at most 255 bytes).
func EndDynamic8(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - 1
	if n > math.MaxUint8 {
		return dst[:start], &EncodeError{What: "dynamic_size uint8 of " + strconv.Itoa(n) + " bytes", Err: ErrTooLarge}
	}
	dst[start] = byte(n)
	return dst, nil
}

// BeginDynamic16 is BeginDynamic for `dynamic_size ~kind:`Uint16`.
func BeginDynamic16(dst []byte) ([]byte, int) { return append(dst, 0, 0), len(dst) }

// EndDynamic16 is EndDynamic for a two-byte prefix (at most 65,535 bytes).
func EndDynamic16(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - 2
	if n > math.MaxUint16 {
		return dst[:start], &EncodeError{What: "dynamic_size uint16 of " + strconv.Itoa(n) + " bytes", Err: ErrTooLarge}
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(n))
	return dst, nil
}

// rangedIntSize is octez Binary_size.range_to_size.
type rangedKind uint8

const (
	rangedInt8 rangedKind = iota
	rangedUint8
	rangedInt16
	rangedUint16
	rangedInt31
)

func rangedIntSize(min, max int) rangedKind {
	if min < 0 {
		switch {
		case min >= math.MinInt8 && max <= math.MaxInt8:
			return rangedInt8
		case min >= math.MinInt16 && max <= math.MaxInt16:
			return rangedInt16
		default:
			return rangedInt31
		}
	}
	switch d := max - min; {
	case d <= math.MaxUint8:
		return rangedUint8
	case d <= math.MaxUint16:
		return rangedUint16
	default:
		return rangedInt31
	}
}
