// Package p2ppool is the connection pool of a peer-to-peer node, modelled
// on the pool of the Tezos node (octez P2p_pool) and speaking its wire
// protocol byte for byte, so a Go program built on it can talk to octez
// nodes and octez nodes can talk to it.
//
// # Identity
//
// A node is identified by a Curve25519 key pair; its [PeerID] is the
// 16-byte Blake2b hash of the public key. Every connection message carries
// a proof-of-work stamp: peers refuse keys whose stamp does not meet their
// target, which makes identities costly to mint. [GenerateIdentity] finds a
// stamp on all cores; [LoadIdentity] and [Identity.Save] read and write
// octez's identity.json.
//
// # Handshake and message flow
//
// Each connection starts with a handshake that both sides run at once:
//
//	initiator (dialled)                          responder (accepted)
//	connection message (cleartext: port, public key,
//	  PoW stamp, random nonce, chain name and versions)  <->  same
//	check the peer's proof of work; channel key = box.Precompute(peer pk, my sk);
//	nonces = Blake2b-256(init msg ‖ resp msg ‖ "Init -> Resp" / "Resp -> Init")
//	metadata chunk (encrypted)                  <->  same
//	admission checks (myself, bans, versions, slots)
//	ack, or nack with a motive and alternative points  <->  same
//
// After the handshake every byte travels in chunks: a 2-byte length, a
// 16-byte Poly1305 tag, and XSalsa20 ciphertext of at most 65,517 bytes,
// each chunk sealed with the next nonce of its direction. The plaintext is
// a stream of messages, each a 4-byte size, a 2-byte tag and a body: the
// P2P messages (Disconnect, Bootstrap, Advertise, Swap_request, Swap_ack)
// and the application's own tags.
//
// # Connections and concurrency
//
// [New] builds a [Pool]; [Pool.Serve] accepts connections and
// [Pool.Connect] opens them. Every established [Connection] owns a reader
// goroutine for its life, and a writer goroutine while it has something to
// send: the first message queued starts the writer, which exits once the
// queue is empty, so an idle connection costs one goroutine (none on
// p2ppooltest's in-memory network, where an idle reader parks until
// something arrives):
//
//	socket --decrypt, reassemble, decode--> reader goroutine
//	    Bootstrap/Advertise/Disconnect handled in place
//	    application messages --> bounded queue --> Connection.Read
//	Connection.Write/WriteSync/WriteNow, Pool.WriteAll
//	    --> bounded queue (bytes) --> writer goroutine --encrypt, coalesce--> socket
//
// The reader owns the connection: when it stops, for whatever reason, it
// waits for the writer, closes the socket, removes the connection from the
// pool's tables and closes [Connection.Done]. [Connection.Context] is
// cancelled with a [*DisconnectError] saying why.
//
// Queues are bounded and their overflow is part of the API. The incoming
// queue is bounded in messages, in bytes per connection and in bytes
// across the pool ([Config.Limits.IncomingMessageQueueSize],
// [Config.Budgets.TotalIncomingQueueSize]); the reader reserves the size of a
// message still arriving as soon as its 4-byte prefix is in (of one that
// arrived whole, as it queues it), and when a bound is reached it stops
// reading the socket, so TCP pushes back on the peer and nothing is
// dropped. The outgoing queue is bounded in bytes per connection and
// across the pool ([Config.Limits.OutgoingMessageQueueSize],
// [Config.Budgets.TotalOutgoingQueueSize]): when either is full [Connection.Write]
// and [Connection.WriteSync] wait, while [Connection.WriteNow] and
// [Pool.WriteAll] drop and count the drop. Messages written on one
// connection are sent in the order they were queued; the writer packs
// what is queued into shared chunks unless [Config.Wire.ChunkPerMessage].
// [Pool.Read] takes the next message of any connection, round robin.
//
// All methods of Pool and Connection are safe for concurrent use. No lock
// is held across network I/O, and no application code (encodings aside,
// which run on the caller's or the connection's goroutine) runs under the
// pool's lock: logging, peer metadata callbacks and hooks run after it is
// released, and may call the pool back, Close and Shutdown included:
// no call deadlocks there (those that would wait for the callback's own
// goroutine return [ErrReentrant]). [Pool.Close] cuts everything and
// returns once every goroutine the pool started has exited (from a
// callback, without waiting for them: they exit once it returns);
// [Pool.Shutdown] first lets each connection send what is queued and a
// Disconnect. After either, every call of the
// pool, its views and its connections that returns an error returns
// [ErrPoolClosed] (Close and Shutdown excepted: they are idempotent); the calls that
// only read keep answering, for a final report.
//
// # On a public address
//
// Every byte a peer can make the pool hold is bounded, and a host or a
// subnet can hold only its share of the handshake slots and of the
// incoming connections: per-address and per-subnet caps, eviction of
// stalled handshakes and, when the pool is full, of an incoming peer of
// the most represented subnet (as Bitcoin Core does), a deadline for the
// first bytes, stall scores that end in the greylist, idle and write
// timeouts. The README's Security section lists every bound.
//
// # Around the connections
//
// The pool keeps octez's tables of known peers and points ([Pool.Peers],
// [Pool.Points]) with their states, back-off and histories, saved in the
// peers file; greylists and bans ([ACL.GreylistAddr], [Peers.Ban]);
// a maintenance worker that dials known points or trims connections to
// stay between the thresholds derived from min/expected/max connections
// ([Pool.Maintain]); swaps ([Pool.SendSwapRequest]); a bandwidth scheduler
// shared fairly by all connections ([Pool.SetLimits] changes its caps at
// run time); and an event stream ([Pool.Watch]) whose watchers have
// bounded buffers, so a slow watcher loses events (it is told how many)
// but never slows the pool. An idle connection end costs one goroutine,
// its reader (none on p2ppooltest's network); a writer runs only while
// something is queued. The pool's
// housekeeping and maintenance wait on timers and run on a goroutine only
// while they work (a pool below its minimum connections keeps one: the
// maintenance, waiting for new points); handshakes and swaps run on
// short-lived ones.
package p2ppool
