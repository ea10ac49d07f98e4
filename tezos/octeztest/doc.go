// Package octeztest is a test peer that behaves as an octez node's shell
// does, written from octez's source (src/lib_shell/p2p_reader.ml) and not
// from this module's own shell code, so that a test of a program built on
// package tezos has an independent far end: what the peer answers,
// ignores, gates, throttles and greylists is octez's, with the file and
// line of each rule in a comment.
//
// A [Chain] is the data the peer serves: a synthetic header chain whose
// hashes, predecessor links, levels and operations hashes are all valid
// (and whose genesis hash, as octez's, is not the hash of its header).
// [Chain.WithWrongLevel] and [Chain.WithBrokenLink] give chains that are
// self-consistent hash by hash but not as a chain; [Lie] makes a peer's
// answers wrong (a header that does not hash to what was asked, operations
// that do not match their block) or absent.
//
// A [Peer] is a p2ppool pool with the distributed-DB message set: it
// handshakes as an octez node (the pool's wire is octez's), sends
// Get_current_branch for its chain as soon as a connection is up
// (p2p_reader.ml 806-820), and then runs one reader per connection that
// handles each message as p2p_reader.ml's handle_msg (353-693) does:
//
//   - Get_current_branch and Get_protocol_branch of the peer's chain
//     activate the chain for the remote (365, 649); Deactivate deactivates
//     it (414-418);
//   - Current_branch, Current_head, Get_current_head and Deactivate of a
//     chain the remote has not activated are ignored and counted
//     (may_handle, 256-262);
//   - Get_checkpoint and Get_protocol_branch of a chain the peer does not
//     serve are ignored (may_handle_global, 266-269);
//   - Get_block_headers, Get_operations, Get_operations_for_blocks,
//     Get_protocols and Get_predecessor_header are answered for what the
//     peer has, whatever the activation (474-489, 507-525, 560-606,
//     673-687);
//   - every message goes through octez's per-kind throttle first
//     (throttle, 152-193; make_throttle_state, 202-251): over its
//     threshold within its window, the reader sleeps the cooldown, and a
//     Get_protocols is then dropped (564);
//   - a Current_branch or Current_head naming a block the peer knows to
//     be invalid disconnects and greylists the sender (392-400, 453-461).
//
// What octez counts in its peer metadata (Inactive_chain,
// Unexpected_response, Unadvertised, Future_block, ...) is counted in
// [Counters], and [Peer.Remote] shows the state the peer keeps of each
// remote: the chains it activated, the last head and branch it accepted.
//
// Every goroutine the peer starts is its own and [Peer.Close] waits for
// them. The peer works under testing/synctest on p2ppooltest's network:
// after synctest.Wait, every message sent to it has been handled.
package octeztest
