// Package wire implements, byte for byte, the binary encodings that the
// octez (Tezos) P2P connection layer puts on the wire: the cleartext
// connection message, the encrypted handshake tail
// (metadata and ack/nack) and the post-handshake P2P message envelope with
// its five P2P messages (Disconnect, Bootstrap, Advertise, Swap_request,
// Swap_ack). Application (distributed DB) bodies are carried opaquely.
//
// Decoders never panic, reject truncated, trailing and oversized input with
// an error wrapping one of ErrTruncated, ErrTrailingBytes, ErrTooLarge or
// ErrInvalid, and never allocate more than the bytes actually present
// justify. Byte slices in decoded values alias the input, so the hot path
// (decoding an application message) does not allocate at all.
//
// Encoders append to a caller-supplied slice and never fail except where a
// length cannot be represented (see ConnectionMessage.AppendFrame and
// EndMessage). For every value a decoder returns, the matching encoder
// reproduces the input exactly, except for the non-canonical spellings that
// octez itself accepts but never emits: booleans other than 0x00/0xFF and
// point texts that are not in the form octez prints (see ParsePoint).
package wire
