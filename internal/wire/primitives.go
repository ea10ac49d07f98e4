package wire

import "encoding/binary"

// MaxStringLen is the largest length data-encoding accepts in the u32
// prefix of a string, bytes, list or dynamic_size (it is a uint30). A
// larger prefix is refused before anything is read or allocated.
const MaxStringLen = 1<<30 - 1

// Reader is a cursor over a byte slice implementing the data-encoding
// binary reader rules. It has a sticky error: the first failure is kept,
// the cursor jumps to the end and every later read returns a zero value,
// so decoders can read a whole structure and check once, via Finish.
//
// A Reader never allocates except in String (which must copy) and on the
// failure path. Slices it returns alias the input and have their capacity
// clipped, so appending to them cannot overwrite the input.
//
// The zero Reader is an empty reader; use Reset or MakeReader to point it
// at data without allocating (NewReader returns a pointer, which escapes).
type Reader struct {
	buf   []byte
	off   int
	err   error
	field string // label of what is being read, set by Field
	where string // field (and detail) at the time of the first error
}

// NewReader returns a Reader over b. Prefer MakeReader or Reset in hot
// paths: the pointer returned here is usually heap-allocated.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// MakeReader returns a Reader over b by value, so it can live on the stack.
func MakeReader(b []byte) Reader { return Reader{buf: b} }

// Reset points r at b and clears its error and labels, so one Reader can be
// reused for many inputs.
func (r *Reader) Reset(b []byte) { *r = Reader{buf: b} }

// Field labels what the next reads are decoding (e.g. "chain_name"). If one
// of them fails, the label appears in the DecodeError built by Finish. It
// only stores the string, so labelling costs nothing on success.
func (r *Reader) Field(name string) { r.field = name }

// Fail records err as the sticky error unless one is already set, and
// moves the cursor to the end. err should be one of the package sentinels
// so that Finish produces a well-formed DecodeError; decoders built on a
// Reader use it for semantic checks (bad tags, bad values).
func (r *Reader) Fail(err error) { r.failDetail(err, "") }

// failDetail is Fail with a human-readable detail appended to the field
// label (only built on the failure path).
func (r *Reader) failDetail(err error, detail string) {
	if r.err != nil {
		return
	}
	r.err = err
	r.where = r.field
	if detail != "" {
		if r.where != "" {
			r.where += ": "
		}
		r.where += detail
	}
	r.off = len(r.buf)
}

// adopt propagates the failure of a sub-reader (over a length-delimited
// region of r) into r, keeping the sub-reader's label under label.
func (r *Reader) adopt(sub *Reader, label string) {
	if sub.err == nil || r.err != nil {
		return
	}
	detail := label
	if sub.where != "" {
		if detail != "" {
			detail += ": "
		}
		detail += sub.where
	}
	r.failDetail(sub.err, detail)
}

// Err returns the sticky error: nil or one of the package sentinels.
func (r *Reader) Err() error { return r.err }

// Remaining returns how many bytes are left (0 after an error).
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Rest consumes and returns all remaining bytes, aliasing the input. It is
// how a trailing Variable.bytes (e.g. an application message body) is read.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.buf[r.off:len(r.buf):len(r.buf)]
	r.off = len(r.buf)
	return b
}

// Finish returns nil if the input was consumed exactly without error.
// Otherwise it returns a *DecodeError naming what (plus the failing field,
// if labelled with Field) and wrapping the sticky error, or ErrTrailingBytes
// if bytes remain: octez rejects both (Data_encoding Extra_bytes).
func (r *Reader) Finish(what string) error {
	if r.err != nil {
		return decodeErr(what, r.where, r.err)
	}
	if r.off != len(r.buf) {
		return decodeErr(what, "", ErrTrailingBytes)
	}
	return nil
}

// take consumes n bytes, failing with ErrTruncated if fewer remain.
func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 {
		r.Fail(ErrInvalid)
		return nil
	}
	if n > len(r.buf)-r.off {
		r.Fail(ErrTruncated)
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

// Int8 reads one byte as a two's complement integer.
func (r *Reader) Int8() int8 { return int8(r.Uint8()) }

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// Int16 reads a big-endian two's complement int16.
func (r *Reader) Int16() int16 { return int16(r.Uint16()) }

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// Int32 reads a big-endian two's complement int32.
func (r *Reader) Int32() int32 { return int32(r.Uint32()) }

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Int64 reads a big-endian two's complement int64.
func (r *Reader) Int64() int64 { return int64(r.Uint64()) }

// Bool reads a data-encoding bool. Any non-zero byte is true because the
// octez readers test "<> 0"; writers only ever emit 0x00 or 0xFF, so a
// byte other than those decodes fine but does not re-encode identically.
func (r *Reader) Bool() bool { return r.Uint8() != 0 }

// Fixed reads exactly n raw bytes (Fixed.bytes n), aliasing the input.
func (r *Reader) Fixed(n int) []byte { return r.take(n) }

// Bytes reads a data-encoding bytes value: a u32 big-endian length L, then
// L bytes aliasing the input. L > MaxStringLen or L > max fails with
// ErrTooLarge and L beyond the remaining input with ErrTruncated, both
// decided from the prefix alone, before anything is sliced or allocated. A
// negative max means no limit other than MaxStringLen.
func (r *Reader) Bytes(max int) []byte {
	n, ok := r.length(max)
	if !ok {
		return nil
	}
	return r.take(n)
}

// String is Bytes copied into a string.
func (r *Reader) String(max int) string {
	b := r.Bytes(max)
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// length reads and validates a u32 length prefix (see Bytes).
func (r *Reader) length(max int) (int, bool) {
	l := r.Uint32()
	if r.err != nil {
		return 0, false
	}
	if max < 0 || max > MaxStringLen {
		max = MaxStringLen
	}
	if uint64(l) > uint64(max) {
		r.Fail(ErrTooLarge)
		return 0, false
	}
	if uint64(l) > uint64(r.Remaining()) {
		r.Fail(ErrTruncated)
		return 0, false
	}
	return int(l), true
}

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

// AppendBytes appends b as data-encoding bytes: u32 big-endian length, then
// b. The caller keeps len(b) <= MaxStringLen (and within the limit of the
// enclosing structure); larger values are not representable.
func AppendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendString is AppendBytes for a string.
func AppendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
