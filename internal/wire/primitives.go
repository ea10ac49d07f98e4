package wire

import (
	"errors"

	"github.com/p2ppool/p2ppool/dataenc"
)

// The data-encoding primitives are package dataenc's: this file only
// adapts them to this package's names and to its DecodeError, so that
// there is one implementation of the octez binary rules.

// MaxStringLen is the largest length data-encoding accepts in the u32
// prefix of a string, bytes, list or dynamic_size (it is a uint30). A
// larger prefix is refused before anything is read or allocated.
const MaxStringLen = dataenc.MaxLength

// Reader is a cursor over a byte slice implementing the data-encoding
// binary reader rules (a dataenc.Reader). It has a sticky error: the first
// failure is kept, and every later read returns a zero value, so decoders
// can read a whole structure and check once, via Finish.
//
// A Reader never allocates except in String (which must copy) and on the
// failure path. Slices it returns alias the input and have their capacity
// clipped, so appending to them cannot overwrite the input.
//
// The zero Reader is an empty reader; use Reset or MakeReader to point it
// at data without allocating (NewReader returns a pointer, which escapes).
type Reader struct {
	d dataenc.Reader
}

// NewReader returns a Reader over b. Prefer MakeReader or Reset in hot
// paths: the pointer returned here is usually heap-allocated.
func NewReader(b []byte) *Reader { return &Reader{d: dataenc.MakeReader(b)} }

// MakeReader returns a Reader over b by value, so it can live on the stack.
func MakeReader(b []byte) Reader { return Reader{d: dataenc.MakeReader(b)} }

// Reset points r at b and clears its error and labels, so one Reader can be
// reused for many inputs.
func (r *Reader) Reset(b []byte) { r.d.Reset(b) }

// Field labels what the next reads are decoding (e.g. "chain_name"). If one
// of them fails, the label appears in the DecodeError built by Finish.
func (r *Reader) Field(name string) { r.d.Field(name) }

// Fail records err as the sticky error unless one is already set. err
// should be one of the package sentinels so that Finish produces a
// well-formed DecodeError; decoders built on a Reader use it for semantic
// checks (bad tags, bad values).
func (r *Reader) Fail(err error) { r.d.Fail(err) }

// failDetail is Fail with a detail appended to the field label.
func (r *Reader) failDetail(err error, detail string) { r.d.Failf(err, detail) }

// Err returns the sticky error: nil or one of the package sentinels.
func (r *Reader) Err() error { return r.d.Err() }

// Remaining returns how many bytes are left (0 after an error).
func (r *Reader) Remaining() int { return r.d.Remaining() }

// Rest consumes and returns all remaining bytes, aliasing the input. It is
// how a trailing Variable.bytes (e.g. an application message body) is read.
func (r *Reader) Rest() []byte { return r.d.Rest() }

// Finish returns nil if the input was consumed exactly without error.
// Otherwise it returns a *DecodeError naming what (plus the failing field,
// if labelled with Field) and wrapping the sticky error, or ErrTrailingBytes
// if bytes remain: octez rejects both (Data_encoding Extra_bytes).
func (r *Reader) Finish(what string) error {
	err := r.d.Finish(what)
	if err == nil || errors.As(err, new(*DecodeError)) {
		return err
	}
	return &DecodeError{What: what, Err: err}
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 { return r.d.Uint8() }

// Int8 reads one byte as a two's complement integer.
func (r *Reader) Int8() int8 { return r.d.Int8() }

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 { return r.d.Uint16() }

// Int16 reads a big-endian two's complement int16.
func (r *Reader) Int16() int16 { return r.d.Int16() }

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 { return r.d.Uint32() }

// Int32 reads a big-endian two's complement int32.
func (r *Reader) Int32() int32 { return r.d.Int32() }

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 { return r.d.Uint64() }

// Int64 reads a big-endian two's complement int64.
func (r *Reader) Int64() int64 { return r.d.Int64() }

// Bool reads a data-encoding bool. Any non-zero byte is true because the
// octez readers test "<> 0"; writers only ever emit 0x00 or 0xFF, so a
// byte other than those decodes fine but does not re-encode identically.
func (r *Reader) Bool() bool { return r.d.Bool() }

// Fixed reads exactly n raw bytes (Fixed.bytes n), aliasing the input.
func (r *Reader) Fixed(n int) []byte { return r.d.Fixed(n) }

// Bytes reads a data-encoding bytes value: a u32 big-endian length L, then
// L bytes aliasing the input. L > MaxStringLen or L > max fails with
// ErrTooLarge and L beyond the remaining input with ErrTruncated, both
// decided from the prefix alone, before anything is sliced or allocated. A
// negative max means no limit other than MaxStringLen.
func (r *Reader) Bytes(max int) []byte { return r.d.Bytes(max) }

// String is Bytes copied into a string.
func (r *Reader) String(max int) string { return r.d.String(max) }

// beginDynamic opens a u32-prefixed region (dynamic_size), see
// dataenc.Reader.BeginDynamic; end closes it.
func (r *Reader) beginDynamic(max int) dataenc.Span { return r.d.BeginDynamic(max) }

func (r *Reader) end(s dataenc.Span) { r.d.End(s) }

// AppendUint8 appends v.
func AppendUint8(dst []byte, v uint8) []byte { return dataenc.AppendUint8(dst, v) }

// AppendInt8 appends v as one two's complement byte.
func AppendInt8(dst []byte, v int8) []byte { return dataenc.AppendInt8(dst, v) }

// AppendUint16 appends v big-endian.
func AppendUint16(dst []byte, v uint16) []byte { return dataenc.AppendUint16(dst, v) }

// AppendInt16 appends v big-endian, two's complement.
func AppendInt16(dst []byte, v int16) []byte { return dataenc.AppendInt16(dst, v) }

// AppendUint32 appends v big-endian.
func AppendUint32(dst []byte, v uint32) []byte { return dataenc.AppendUint32(dst, v) }

// AppendInt32 appends v big-endian, two's complement.
func AppendInt32(dst []byte, v int32) []byte { return dataenc.AppendInt32(dst, v) }

// AppendUint64 appends v big-endian.
func AppendUint64(dst []byte, v uint64) []byte { return dataenc.AppendUint64(dst, v) }

// AppendInt64 appends v big-endian, two's complement.
func AppendInt64(dst []byte, v int64) []byte { return dataenc.AppendInt64(dst, v) }

// AppendBool appends 0xFF for true and 0x00 for false, the only bytes the
// octez writer emits.
func AppendBool(dst []byte, v bool) []byte { return dataenc.AppendBool(dst, v) }

// AppendBytes appends b as data-encoding bytes: u32 big-endian length, then
// b. The caller keeps len(b) <= MaxStringLen (and within the limit of the
// enclosing structure); larger values are not representable.
func AppendBytes(dst, b []byte) []byte { return dataenc.AppendBytes(dst, b) }

// AppendString is AppendBytes for a string.
func AppendString(dst []byte, s string) []byte { return dataenc.AppendString(dst, s) }
