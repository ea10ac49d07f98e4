package dataenc

import (
	"encoding/binary"
	"math"
	"strconv"
)

// MaxLength is the largest uint30 octez's writer emits, and the largest
// length prefix (strings, bytes, lists, dynamic_size) read or written
// here: 2^30-1. A larger prefix is refused before anything is read or
// allocated (octez refuses it too, see Reader.Bytes).
const MaxLength = 1<<30 - 1

// Reader is a cursor over a byte slice implementing the octez
// Data_encoding binary reader. It has a sticky error: the first failure is
// kept, and every later read returns a zero value, so a decoder reads a
// whole structure and checks once, with Finish.
//
// Besides the input it tracks two bounds, as octez's reader state does:
// the end of the current dynamic_size region (reading past it is
// ErrTruncated) and the current check_size limit (reading past it is
// ErrTooLarge). Both are set by Begin* and restored by End.
//
// A Reader allocates nothing except in String (which copies) and on the
// failure path. Slices it returns alias the input with their capacity
// clipped, so appending to them never overwrites the input. A Reader is not
// safe for concurrent use; use one per goroutine.
type Reader struct {
	buf    []byte
	off    int
	end    int // end of the current dynamic_size region
	lim    int // current check_size limit (absolute offset; MaxInt if none)
	err    error
	field  string // label of what is being read; frozen by the first error
	detail string // what Failf added to it, joined by Finish
}

// MakeReader returns a Reader over b by value, so it can live on the stack.
func MakeReader(b []byte) Reader { return Reader{buf: b, end: len(b), lim: math.MaxInt} }

// Reset points r at b and clears its error, bounds and labels.
func (r *Reader) Reset(b []byte) { *r = MakeReader(b) }

// Field labels what the next reads decode (e.g. "chain_id"). If one of
// them fails, the label appears in the DecodeError built by Finish. It only
// stores the string, so labelling costs nothing on success; after a failure
// it does nothing, so the label stays the failing field's.
func (r *Reader) Field(name string) {
	if r.err == nil {
		r.field = name
	}
}

// Fail records err as the sticky error unless one is already set. err
// should be one of the package sentinels; decoders built on a Reader use it
// for semantic checks (bad tags, out-of-range values).
func (r *Reader) Fail(err error) { r.Failf(err, "") }

// Failf is Fail with a detail appended to the current field label in the
// error (e.g. "unknown tag 7"). Recording it allocates nothing; the label
// and detail are joined only by Finish.
func (r *Reader) Failf(err error, detail string) {
	if r.err != nil {
		return
	}
	r.err = err
	r.detail = detail
	r.off = r.end
}

// Err returns the sticky error: nil or one of the package sentinels.
func (r *Reader) Err() error { return r.err }

// Offset returns how many bytes of the input have been consumed.
func (r *Reader) Offset() int { return r.off }

// Remaining returns how many bytes are left in the current region (0
// after an error).
func (r *Reader) Remaining() int {
	if r.err != nil {
		return 0
	}
	return r.end - r.off
}

// Finish returns nil if the input was consumed exactly without error.
// Otherwise it returns a *DecodeError naming what (and the failing field)
// and wrapping the sticky error, or ErrTrailingBytes if bytes remain:
// octez rejects both.
func (r *Reader) Finish(what string) error {
	if r.err == nil && r.off == len(r.buf) {
		return nil // the common case, without building anything
	}
	return r.finishErr(what)
}

// finishErr builds Finish's error.
func (r *Reader) finishErr(what string) error {
	if r.err != nil {
		where := r.field
		if r.detail != "" {
			if where != "" {
				where += ": "
			}
			where += r.detail
		}
		return decodeErr(what, where, r.err)
	}
	return decodeErr(what, "", ErrTrailingBytes)
}

// take consumes n bytes. Past the check_size limit it fails with
// ErrTooLarge, else past the region or input with ErrTruncated; both are
// decided before anything is returned.
func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	// The common case first: in the region, under the limit (lim is MaxInt
	// unless a check_size is open).
	if n >= 0 && n <= r.end-r.off && n <= r.lim-r.off {
		b := r.buf[r.off : r.off+n : r.off+n]
		r.off += n
		return b
	}
	switch {
	case n < 0:
		r.Fail(ErrInvalid)
		return nil
	case n > r.lim-r.off:
		r.Fail(ErrTooLarge)
		return nil
	default:
		r.Fail(ErrTruncated)
		return nil
	}
}

// Uint8 reads one byte (octez uint8).
func (r *Reader) Uint8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

// Int8 reads one two's complement byte (octez int8).
func (r *Reader) Int8() int8 { return int8(r.Uint8()) }

// Uint16 reads a big-endian uint16 (octez uint16).
func (r *Reader) Uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// Int16 reads a big-endian int16 (octez int16).
func (r *Reader) Int16() int16 { return int16(r.Uint16()) }

// Uint32 reads a big-endian uint32 (not an octez type on its own, but
// the raw form of length prefixes).
func (r *Reader) Uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// Int32 reads a big-endian int32 (octez int32).
func (r *Reader) Int32() int32 { return int32(r.Uint32()) }

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Int64 reads a big-endian int64 (octez int64, and Time.Protocol).
func (r *Reader) Int64() int64 { return int64(r.Uint64()) }

// MaxUint30Read is the largest uint30 octez's reader accepts: 2^31-1.
// Its reader (data-encoding binary_reader.ml 80-89) reads an int32 and
// refuses only a negative one, so 2^30..2^31-1 decode although its
// writer refuses them (binary_writer.ml 106 against binary_size.ml 92's
// max_int `Uint30 = 2^30-1, which AppendUint30 keeps).
const MaxUint30Read = 1<<31 - 1

// Uint30 reads octez uint30 as octez's reader does: four big-endian
// bytes, refused (ErrInvalid) only when the high bit is set, so values
// up to MaxUint30Read are accepted, beyond MaxLength, the writer's bound.
func (r *Reader) Uint30() int {
	v := r.Uint32()
	if v > MaxUint30Read {
		r.Failf(ErrInvalid, "uint30 "+strconv.FormatUint(uint64(v), 10))
		return 0
	}
	return int(v)
}

// Int31 reads octez int31: a big-endian int32 in [-2^30, 2^30-1].
func (r *Reader) Int31() int32 {
	v := r.Int32()
	if v < -(1<<30) || v > 1<<30-1 {
		r.Failf(ErrInvalid, "int31 "+strconv.FormatInt(int64(v), 10))
		return 0
	}
	return v
}

// RangedInt reads octez ranged_int min max: the smallest of int8, uint8,
// int16, uint16 or int31 that holds the range (minimum subtracted when
// min > 0, as octez does), refusing values outside [min, max].
func (r *Reader) RangedInt(min, max int) int {
	var v int
	switch rangedIntSize(min, max) {
	case rangedInt8:
		v = int(r.Int8())
	case rangedUint8:
		v = int(r.Uint8())
	case rangedInt16:
		v = int(r.Int16())
	case rangedUint16:
		v = int(r.Uint16())
	default:
		v = int(r.Int32())
	}
	if min > 0 {
		v += min
	}
	if r.err == nil && (v < min || v > max) {
		r.Failf(ErrInvalid, "ranged int "+strconv.Itoa(v)+" outside ["+strconv.Itoa(min)+", "+strconv.Itoa(max)+"]")
		return 0
	}
	return v
}

// Bool reads an octez bool. Any non-zero byte is true, as in octez's
// reader; writers only emit 0x00 or 0xFF, so another byte decodes but does
// not re-encode identically.
func (r *Reader) Bool() bool { return r.Uint8() != 0 }

// Fixed reads exactly n raw bytes (Fixed.bytes n, hashes), aliasing the
// input.
func (r *Reader) Fixed(n int) []byte { return r.take(n) }

// FixedInto reads len(dst) raw bytes into dst (a hash array, say) without
// allocating.
func (r *Reader) FixedInto(dst []byte) {
	if b := r.take(len(dst)); b != nil {
		copy(dst, b)
	}
}

// Bytes reads octez bytes (= dynamic_size Variable.bytes): a uint30
// length L, then L bytes aliasing the input. L > max fails with
// ErrTooLarge, L beyond the input with ErrTruncated, both decided from the
// prefix, before anything is sliced. A negative max means MaxLength.
func (r *Reader) Bytes(max int) []byte {
	n, ok := r.length(max)
	if !ok {
		return nil
	}
	return r.take(n)
}

// String is Bytes copied into a string (octez string).
func (r *Reader) String(max int) string {
	b := r.Bytes(max)
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// Rest consumes all remaining bytes of the current region, aliasing the
// input: octez Variable.bytes and Variable.string. Under a check_size limit
// shorter than the region it fails with ErrTooLarge.
func (r *Reader) Rest() []byte {
	if r.err == nil && r.lim >= r.end {
		b := r.buf[r.off:r.end:r.end]
		r.off = r.end
		return b
	}
	return r.restSlow()
}

// restSlow is Rest after an error (nil) or under a check_size limit.
func (r *Reader) restSlow() []byte { return r.take(r.end - r.off) }

// length reads and validates a uint30 length prefix (see Bytes). A
// prefix over MaxLength fails ErrTooLarge from the prefix alone. octez's
// Dynamic_size reads it with Atom.int `Uint30 (binary_reader.ml 363-368),
// so it refuses one with the high bit set as Invalid_int and one of
// 2^30..2^31-1 as Not_enough_data, no input holding a gigabyte: the same
// inputs are refused, under another name. Failing allocates nothing.
func (r *Reader) length(max int) (int, bool) {
	l := r.Uint32()
	if r.err != nil {
		return 0, false
	}
	if max < 0 || max > MaxLength {
		max = MaxLength
	}
	if uint64(l) > uint64(max) {
		// No numbers in the detail: refusing a hostile length must not
		// allocate.
		r.Failf(ErrTooLarge, "length prefix over its bound")
		return 0, false
	}
	return int(l), true
}

// Opt reads the presence byte of an optional object field (octez `opt`
// in obj): 0x00 absent, anything else present (the writer emits 0xFF).
func (r *Reader) Opt() bool { return r.Uint8() != 0 }

// Option reads the tag of octez's `option` combinator, a union with
// Tag 0 = None and Tag 1 = Some; any other byte fails with ErrInvalid.
func (r *Reader) Option() bool {
	switch t := r.Uint8(); t {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Failf(ErrInvalid, "option tag "+strconv.Itoa(int(t)))
		return false
	}
}
