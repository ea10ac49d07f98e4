// Package tezos is the octez shell's distributed-DB message set
// (src/lib_shell/distributed_db_message.ml), byte for byte: the 19
// messages a Tezos node exchanges with its peers once connected
// (Get_current_branch 0x10 … Predecessor_header 0x91), with the data they
// carry (block headers with their shell part decoded, operations,
// mempools, block locators, Merkle paths, protocols), the bounds octez
// enforces on each, and the hash types with their base58check forms.
//
// It is built on package dataenc and is optional: the root p2ppool
// package never imports it. MessageConfig plugs the whole set into a
// p2ppool.Pool; DecodeBody and AppendBody work on a message's body (the
// bytes after the 2-byte tag of the P2P envelope) for other uses.
//
// Decoded values alias the bytes they were decoded from (protocol data,
// operation data, fitness elements); MessageConfig's decoders copy the
// body first, as the pool requires. Every type is a plain value: safe for
// concurrent reads, not for concurrent writes.
package tezos
