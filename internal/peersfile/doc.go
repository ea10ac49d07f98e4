// Package peersfile reads and writes octez's peers.json, the list of known
// peers a node saves when it stops and reloads when it starts
// (src/lib_p2p/p2p_peer_state.ml, Info.encoding and File), so that a Go
// node and an octez node can share a data directory.
//
// Encode writes what octez writes, byte for byte: the same keys in the
// same order, the same omitted defaults, timestamps as
// "2024-05-06T07:08:09.123-00:00", addresses as RFC 5952 text with IPv4
// as "::ffff:1.2.3.4", and octez's pretty-printed layout (an OCaml Format
// transcription, see pretty.go). Decode accepts everything octez accepts
// (any RFC 3339 form Ptime reads, second counts as strings, ports written
// as 9732.0, an empty object for an empty list, …) and is lenient where a
// newer writer may have added something: unknown fields are kept and
// written back after the known ones, unknown event kinds are kept, and a
// plain IPv4 address is read as the IPv4-mapped one. Octez itself refuses
// such files, so we only write them back when they were already so.
//
// Deliberate differences from octez on reading, besides those leniencies:
// JSON nested deeper than 512 levels and strings given in data-encoding's
// {"invalid_utf8_string": [bytes]} form are refused; the peer metadata is
// not checked at all (octez checks it against Peer_metadata.encoding).
// Like octez, we refuse invalid UTF-8, unpaired surrogate escapes and a
// repeated key in a record, event or connection point.
//
// Load moves a corrupt file aside instead of letting it be overwritten,
// and Save replaces the file atomically (temporary file, fsync, rename,
// directory fsync), so that a crash at any point leaves a loadable file.
package peersfile
