// Package dataenc reads and writes the binary form of octez (Tezos)
// Data_encoding, byte for byte: the encoding every octez P2P and shell
// message uses. It is the layer a hand-written codec is built on: a Reader
// with a sticky error and field labels for decoding, and Append functions
// for encoding, so a struct codec is a few lines per field (see the
// package example).
//
// # Mapping to OCaml Data_encoding
//
//	OCaml                              Reader            writer
//	uint8 / int8                       Uint8 / Int8      AppendUint8 / AppendInt8
//	uint16 / int16                     Uint16 / Int16    AppendUint16 / AppendInt16
//	int32 / int64 (Time.Protocol)      Int32 / Int64     AppendInt32 / AppendInt64
//	uint30 / int31                     Uint30 / Int31    AppendUint30 / AppendInt32
//	ranged_int min max                 RangedInt         AppendRangedInt
//	bool                               Bool              AppendBool
//	n / z (arbitrary precision)        N / Z             AppendN / AppendZ
//	Fixed.bytes n, hashes              Fixed, FixedInto  append(dst, b...)
//	bytes / string                     Bytes / String    AppendBytes / AppendString
//	Variable.bytes / Variable.string   Rest              append(dst, b...)
//	dynamic_size e                     BeginDynamic+End  BeginDynamic / EndDynamic
//	dynamic_size ~kind:`Uint8 e        BeginDynamic8     BeginDynamic8 / EndDynamic8
//	check_size n e                     BeginCheckSize    Codec.Encode (MaxSize)
//	obj2 (Variable v) (Fixed n)        BeginVariable+End the fields in order
//	list ?max_length e                 List              AppendList
//	Variable.list ?max_length e        VariableList      AppendVariableList
//	opt "f" e  (in obj)                Opt, then e       AppendOpt, then e
//	option e   (tags 0/1)              Option, then e    AppendOption, then e
//	union ~tag_size cases              Union.Read        Union.AppendTag, then e
//	obj / tup / merge_objs             the fields in order
//	conv, def, splitted, mu            no bytes of their own
//
// Lengths are uint30: a prefix of 2^30 or more is refused (octez reads it
// and then finds the bytes missing). Reader.Uint30 reads a uint30 value as
// octez's reader does, up to 2^31-1; AppendUint30 writes at most 2^30-1,
// as octez's writer. octez's `list`
// is dynamic_size around Variable.list, so it has a 4-byte byte-length
// prefix (not an element count); `array` is the same on the wire.
//
// # Decoding rules
//
// Decoders never panic. Truncated input fails with ErrTruncated, bytes
// left over (after the value, or inside a dynamic_size region) with
// ErrTrailingBytes, lengths, counts and sizes beyond their bounds with
// ErrTooLarge, and impossible values (unknown tags, out-of-range ints,
// zarith trailing zeros) with ErrInvalid; Reader.Finish wraps the sentinel
// in a *DecodeError naming the value and the field that failed. Every
// length is checked against its bound and the input before anything is
// sliced or allocated, so no input makes a decoder hold more memory than a
// small multiple of the input's size. Byte slices returned alias the
// input, so decoding fixed and byte fields allocates nothing.
//
// For every value a decoder returns, the writer reproduces the input
// exactly, except the non-canonical spellings octez itself reads but never
// writes: booleans and opt presence bytes other than 0x00/0xFF, and `z`
// minus zero.
package dataenc
