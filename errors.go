package p2ppool

import (
	"errors"
	"fmt"
	"net"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Errors of the pool. Match them with errors.Is; the typed errors below
// carry data and are matched with errors.As.
var (
	// ErrPoolClosed is returned, once Close or Shutdown has begun, by
	// every call of the pool, its views and its connections that returns
	// an error (Close and Shutdown excepted: they are idempotent), and by a
	// handshake cut by them; a connection's *DisconnectError with
	// ReasonPoolClosed matches it too. Calls that only read (Stats,
	// Config, the views' Info, All, Len...) keep answering from the state
	// at closing, for a final report.
	ErrPoolClosed = errors.New("p2ppool: pool closed")
	// ErrInUse: Forget was asked to forget a peer or point that is
	// connected or being connected.
	ErrInUse = errors.New("p2ppool: in use")
	// ErrNoSwapCandidates: SendSwapRequest found no peer to ask, or none
	// to propose (it needs two connected, non-private peers, the proposed
	// one with a known listening point).
	ErrNoSwapCandidates = errors.New("p2ppool: no swap candidates")
	// ErrConnectionClosed is returned by reads and writes on a connection
	// that has ended; the error is a *DisconnectError saying why.
	ErrConnectionClosed = errors.New("p2ppool: connection closed")
	// ErrTooManyConnections: the pool is at its connection limit (octez
	// Too_many_connections); inbound peers get a nack with alternative
	// points.
	ErrTooManyConnections = errors.New("p2ppool: too many connections")
	// ErrTooManyIncoming: max_incoming_connections handshakes are already
	// running; the socket is closed without a word.
	ErrTooManyIncoming = errors.New("p2ppool: too many incoming handshakes")
	// ErrAlreadyConnected: there is already a connection (or a handshake
	// past authentication) with this peer or point (octez
	// Already_connected / Connected).
	ErrAlreadyConnected = errors.New("p2ppool: already connected")
	// ErrPendingConnection: a connection to this point is being set up
	// (octez Pending_connection).
	ErrPendingConnection = errors.New("p2ppool: connection to point pending")
	// ErrPrivateMode: the pool runs a closed network and the point or peer
	// is not trusted (octez Private_mode); no nack is sent.
	ErrPrivateMode = errors.New("p2ppool: closed network: point or peer not trusted")
	// ErrPointBanned: the point's address is banned or greylisted (octez
	// Point_banned); inbound, the socket is closed without a word.
	ErrPointBanned = errors.New("p2ppool: address banned or greylisted")
	// ErrPeerBanned: the peer id is banned or greylisted (octez
	// Peer_banned).
	ErrPeerBanned = errors.New("p2ppool: peer banned or greylisted")
	// ErrUnexpectedPeer: the peer at a point is not the one expected
	// there (octez Identity_check_failure).
	ErrUnexpectedPeer = errors.New("p2ppool: unexpected peer id at point")
	// ErrConnectionFailed: the transport connection could not be opened.
	ErrConnectionFailed = errors.New("p2ppool: connection failed")
	// ErrUnknownTag: a peer sent a message tag no encoding declares.
	ErrUnknownTag = errors.New("p2ppool: unknown message tag")
	// ErrDecode: a message from a peer failed to decode.
	ErrDecode = errors.New("p2ppool: message decoding failed")
	// ErrMessageTooLarge: a message is larger than its encoding allows.
	ErrMessageTooLarge = errors.New("p2ppool: message too large")
	// ErrNoEncoding: the application asked to send a message that no
	// encoding accepts.
	ErrNoEncoding = errors.New("p2ppool: no encoding for message")
	// ErrMaintenanceDisabled: Maintain was called with the maintenance
	// off (octez Maintenance_disabled).
	ErrMaintenanceDisabled = errors.New("p2ppool: maintenance disabled")
	// ErrReentrant: a call made from a callback the pool runs would wait
	// for the goroutine that runs the callback, or for one that waits for
	// it: Maintain from a connection's or the maintenance's callbacks,
	// Peers.Save from PeerMetaConfig.MarshalJSON, WriteSync from a
	// callback on the connection's own writer. What the call can do
	// without waiting is done (a maintenance run is requested); the wait
	// is not.
	ErrReentrant = errors.New("p2ppool: call would wait for the callback that made it")
	// ErrTooManyFromAddress and ErrTooManyFromSubnet: the socket's address
	// or subnet already has its share of incoming handshakes or
	// connections (Config.Admission.MaxPendingPerAddr and friends); the socket is
	// closed without a word.
	ErrTooManyFromAddress = errors.New("p2ppool: too many incoming from this address")
	ErrTooManyFromSubnet  = errors.New("p2ppool: too many incoming from this subnet")
	// ErrHandshakeEvicted: every handshake slot was busy and this
	// incoming handshake, the oldest of the most represented subnet, gave
	// its slot to a newer socket.
	ErrHandshakeEvicted = errors.New("p2ppool: incoming handshake evicted for another")
	// ErrQueueFull is WriteNow's answer when the connection's outgoing
	// queue has no room; the message was dropped.
	ErrQueueFull = errors.New("p2ppool: outgoing queue full")
	// ErrOutgoingBudgetFull is WriteNow's answer when the pool-wide
	// outgoing budget (Config.Budgets.TotalOutgoingQueueSize) has no room,
	// although the connection's own queue has; the message was dropped.
	// It is an ErrQueueFull too: errors.Is(err, ErrQueueFull) holds.
	ErrOutgoingBudgetFull = fmt.Errorf("%w: pool-wide outgoing budget spent", ErrQueueFull)
)

// Handshake errors, shared with the authenticated socket so that
// errors.Is works on whatever layer produced them.
var (
	// ErrNotEnoughProofOfWork: the peer's proof-of-work stamp is below
	// our target (octez Not_enough_proof_of_work). Its address is
	// greylisted.
	ErrNotEnoughProofOfWork = socket.ErrNotEnoughProofOfWork
	// ErrMyself: the peer is this pool's own identity (octez Myself).
	ErrMyself = socket.ErrMyself
	// ErrDecipher: a chunk failed authentication (octez Decipher_error).
	ErrDecipher = socket.ErrDecipher
	// ErrInvalidChunkSize: a chunk announced fewer bytes than its MAC.
	ErrInvalidChunkSize = socket.ErrInvalidChunkSize
	// ErrInvalidMessageSize: a message size prefix is zero, too short for
	// a tag, or above the limit.
	ErrInvalidMessageSize = socket.ErrInvalidMessageSize
	// ErrRejected: the peer nacked us; the error is a *RejectedError.
	ErrRejected = socket.ErrRejected
	// ErrNoCommonVersion: chain name or versions do not match; the error
	// is a *VersionError.
	ErrNoCommonVersion = socket.ErrNoCommonVersion
	// ErrTimeout: the handshake (or, for Connect, dial plus handshake)
	// did not finish within the pool's bound (Config.Timeouts.Connection,
	// Timeouts.Authentication). When the caller's context ends first, the
	// error is that context's cause instead (context.DeadlineExceeded for
	// its deadline).
	ErrTimeout = socket.ErrTimeout
	// ErrLocalMetadataTooLarge: ConnMetaConfig.Local gave metadata whose
	// encoding does not fit one chunk; the handshake fails, a local fault.
	ErrLocalMetadataTooLarge = socket.ErrLocalMetadataTooLarge
	// ErrFirstMessageTimeout: the peer's connection message did not come
	// within Config.Timeouts.FirstMessage. It matches ErrTimeout.
	ErrFirstMessageTimeout = socket.ErrFirstMessageTimeout
	// ErrClosedDuringHandshake: the peer closed the connection before the
	// handshake ended.
	ErrClosedDuringHandshake = socket.ErrClosedDuringHandshake
)

// NackMotive is the reason a node gives when it refuses a connection with
// a nack (octez P2p_rejection.t, an int16 on the wire). Codes other than
// the Nack constants (octez Unknown_motive) are kept as they are: they
// print as "unknown motive N".
type NackMotive = wire.NackMotive

// Nack motives, with octez's names and codes.
const (
	// NackNoMotive (0, octez No_motive): no reason given; also the motive
	// of a nack from a peer speaking p2p_version 0, which carries none.
	NackNoMotive NackMotive = wire.NoMotive
	// NackTooManyConnections (1, octez Too_many_connections): the
	// refusing node has no free slot.
	NackTooManyConnections NackMotive = wire.TooManyConnections
	// NackUnknownChainName (2, octez Unknown_chain_name): the chain names
	// differ.
	NackUnknownChainName NackMotive = wire.UnknownChainName
	// NackDeprecatedP2PVersion (3, octez Deprecated_p2p_version): no
	// common p2p version.
	NackDeprecatedP2PVersion NackMotive = wire.DeprecatedP2PVersion
	// NackDeprecatedDistributedDBVersion (4, octez
	// Deprecated_distributed_db_version): no common distributed-db
	// version.
	NackDeprecatedDistributedDBVersion NackMotive = wire.DeprecatedDistributedDBVersion
	// NackAlreadyConnected (5, octez Already_connected): the point or
	// peer is already connected.
	NackAlreadyConnected NackMotive = wire.AlreadyConnected
)

// RejectedError is a peer's nack: it refused the connection (octez
// Rejected_by_nack). Its fields are
//
//	Motive NackMotive       // the reason the peer gave
//	Points []netip.AddrPort // alternative points it suggested, or nil
//
// The pool learns the points. A peer speaking p2p_version 0 sends neither
// (NackNoMotive, nil). errors.Is(err, ErrRejected) holds.
type RejectedError = socket.RejectedError

// VersionError says why version negotiation with a peer failed (octez
// Rejected_no_common_protocol): the chain names differ, or no
// distributed-db or p2p version is spoken by both sides. Its fields are
//
//	Motive NackMotive     // what the pool put in its nack to the peer
//	Remote NetworkVersion // the version the peer announced
//
// Motive is NackUnknownChainName, NackDeprecatedDistributedDBVersion or
// NackDeprecatedP2PVersion; when both versions fail, the distributed-db
// one, as in octez. errors.Is(err, ErrNoCommonVersion) holds.
type VersionError = socket.VersionError

// HandshakeStage names the step of the handshake an error happened in.
type HandshakeStage uint8

// Handshake stages, in wire order.
const (
	StageConnectionMessage = HandshakeStage(socket.StageConnectionMessage)
	StageMetadata          = HandshakeStage(socket.StageMetadata)
	StageAck               = HandshakeStage(socket.StageAck)
)

func (s HandshakeStage) String() string { return socket.Stage(s).String() }

// HandshakeError wraps an error of the handshake with its stage and, once
// known, the peer id.
type HandshakeError struct {
	Stage HandshakeStage
	// Peer is zero when the failure came before the peer's connection
	// message was read.
	Peer PeerID
	Err  error
}

func (e *HandshakeError) Error() string {
	if e.Peer.IsZero() {
		return fmt.Sprintf("p2ppool: handshake: %v: %v", e.Stage, e.Err)
	}
	return fmt.Sprintf("p2ppool: handshake with %v: %v: %v", e.Peer, e.Stage, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// fromSocketError gives the socket's *HandshakeError the exported
// HandshakeError's stage and peer id types. What it wraps is kept as is:
// the socket's RejectedError and VersionError are the exported types.
func fromSocketError(err error) error {
	var he *socket.HandshakeError
	if !errors.As(err, &he) {
		return err
	}
	return &HandshakeError{Stage: HandshakeStage(he.Stage), Peer: PeerID(he.Peer), Err: he.Err}
}

// DisconnectReason says why a connection ended.
type DisconnectReason uint8

// Disconnect reasons.
const (
	// ReasonLocal: this side called Disconnect.
	ReasonLocal DisconnectReason = iota + 1
	// ReasonRemoteClosed: the peer closed the transport connection.
	ReasonRemoteClosed
	// ReasonRemoteDisconnect: the peer sent a Disconnect message.
	ReasonRemoteDisconnect
	// ReasonReadError: reading failed.
	ReasonReadError
	// ReasonWriteError: writing failed.
	ReasonWriteError
	// ReasonProtocolError: the peer sent what no honest implementation
	// sends: a message that does not decode, has an unknown tag or is too
	// large, a chunk that fails authentication or has an invalid size. Its
	// address is greylisted.
	ReasonProtocolError
	// ReasonPoolClosed: the pool was closed or shut down.
	ReasonPoolClosed
	// ReasonBanned: the peer or its address was banned.
	ReasonBanned
	// ReasonGreylisted: the peer or its address was greylisted, for
	// misbehaviour or by GreylistAddr/GreylistPeer.
	ReasonGreylisted
	// ReasonUnexpectedPeer: the point was given another expected peer id.
	ReasonUnexpectedPeer
	// ReasonSwapped: the connection was given up for another in a swap.
	ReasonSwapped
	// ReasonMaintenance: the maintenance ended it to come back under the
	// connection target.
	ReasonMaintenance
	// ReasonEvicted: the pool was full and gave the slot of this incoming
	// connection to a peer from a less represented subnet.
	ReasonEvicted
	// ReasonIdle: no message went either way for Config.Timeouts.Idle.
	ReasonIdle
	// ReasonWriteTimeout: the peer accepted no byte for
	// Config.Timeouts.Write while we had some to send.
	ReasonWriteTimeout
	// ReasonFlood: the peer kept sending messages over their budget
	// (Config.Control, Connection.Allow) until its abuse bucket was
	// empty. The peer and its address are greylisted; the error wraps
	// ErrFlood.
	ReasonFlood

	// numReasons sizes the per-reason counters; not a reason.
	numReasons
)

func (r DisconnectReason) String() string {
	switch r {
	case ReasonLocal:
		return "local disconnect"
	case ReasonRemoteClosed:
		return "closed by peer"
	case ReasonRemoteDisconnect:
		return "peer said disconnect"
	case ReasonReadError:
		return "read error"
	case ReasonWriteError:
		return "write error"
	case ReasonProtocolError:
		return "protocol error"
	case ReasonPoolClosed:
		return "pool closed"
	case ReasonBanned:
		return "banned"
	case ReasonGreylisted:
		return "greylisted"
	case ReasonUnexpectedPeer:
		return "unexpected peer"
	case ReasonSwapped:
		return "swapped"
	case ReasonMaintenance:
		return "maintenance"
	case ReasonEvicted:
		return "evicted"
	case ReasonIdle:
		return "idle"
	case ReasonWriteTimeout:
		return "write timeout"
	case ReasonFlood:
		return "flood"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// DisconnectError is why a connection ended: returned by its reads and
// writes once it is over, and the cause of its Context. It matches
// ErrConnectionClosed and net.ErrClosed with errors.Is, and unwraps to the
// underlying error, if any.
type DisconnectError struct {
	Reason DisconnectReason
	// Remote is true when the peer ended the connection (it closed, said
	// Disconnect, or misbehaved).
	Remote bool
	Err    error
}

func (e *DisconnectError) Error() string {
	if e.Err == nil {
		return "p2ppool: connection closed: " + e.Reason.String()
	}
	return fmt.Sprintf("p2ppool: connection closed: %v: %v", e.Reason, e.Err)
}

func (e *DisconnectError) Unwrap() error { return e.Err }

// Is makes errors.Is match ErrConnectionClosed and net.ErrClosed.
func (e *DisconnectError) Is(target error) bool {
	return target == ErrConnectionClosed || target == net.ErrClosed ||
		target == ErrPoolClosed && e.Reason == ReasonPoolClosed
}
