// Package tezos is the octez shell's distributed-DB message set
// (src/lib_shell/distributed_db_message.ml), byte for byte: the 19
// messages a Tezos node exchanges with its peers once connected
// (Get_current_branch 0x10 … Predecessor_header 0x91), with the data they
// carry (block headers with their shell part decoded, operations,
// mempools, block locators, Merkle paths, protocols) and the hash types
// with their base58check text forms.
//
// It is built on package dataenc and is optional: the root p2ppool
// package never imports it. MessageConfig plugs the whole set into a
// p2ppool.Pool; DecodeBody and AppendBody work on a message's body (the
// bytes after the 2-byte tag of the P2P envelope) for other uses.
//
// # Behaving as an octez peer
//
// Speaking the messages is not enough for an octez node to answer: it
// gives heads and branches only on a chain the peer activated with a
// Get_current_branch, and throttles each kind of message
// (src/lib_shell/p2p_reader.ml). A Shell, with one Session per
// connection (Shell.Attach), behaves the same way: Session.Start sends
// Get_current_branch for each chain served, Session.Handle answers,
// gates or hands on each message as p2p_reader.ml does, from what the
// application knows (Store). Package tezos/octeztest is a test peer
// written from p2p_reader.ml to test such programs against.
//
// # Fetching from untrusted peers
//
// A Requester fetches block headers by hash, the operations of blocks
// and predecessor headers from the peers of a pool, several requests in
// flight, retrying on another peer after a timeout, and hands over only
// what it verified: header bytes that hash to the hash asked, operation
// lists whose Merkle path leads to the block's operations_hash. A peer
// that answers with data that fails verification is greylisted. The
// application's read loop passes messages to Requester.Handle.
//
// # Bounds
//
// The bounds are octez's (Distributed_db_message.Bounded_encoding):
// block headers of at most MaxBlockHeaderSize bytes, operations of at most
// MaxOperationSize, the operations of one Operations_for_blocks at most
// 1 MiB, protocols at most MaxProtocolSize, locator histories of at most
// MaxLocatorHistory hashes, mempools of at most MaxMempoolOperations
// hashes (as octez counts them: 8 + 4000 × 32 bytes), request lists of at
// most MaxRequestLength, Merkle paths of at most log2(MaxValidationPasses)
// levels. Each Kind's MaxLength is the largest body these allow, so an
// oversized body is refused before it is read. Decoders refuse
// truncated, trailing and oversized input with a *dataenc.DecodeError
// naming the message and field; encoders refuse values beyond the same
// bounds with a *dataenc.EncodeError.
//
// # Aliasing and concurrency
//
// Decoded values alias the bytes they were decoded from (protocol data,
// operation data, fitness elements); MessageConfig's decoders copy the
// body first, as the pool requires. Every type is a plain value: safe for
// concurrent reads, not for concurrent writes.
//
// Decoding then encoding gives back the input bytes, with one exception
// octez shares: a protocol component's interface presence byte other than
// 0x00/0xFF. Mempool.Pending keeps the wire order (octez, which holds a
// set, writes it sorted).
package tezos
