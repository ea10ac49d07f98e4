package socket

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// Sentinel errors of the authenticated socket. They carry the "p2ppool:"
// prefix because the root package re-exports them unchanged, so callers
// match them with errors.Is without importing internal packages.
var (
	// ErrNotEnoughProofOfWork: the remote's stamp does not meet our target
	// (octez Not_enough_proof_of_work).
	ErrNotEnoughProofOfWork = errors.New("p2ppool: not enough proof of work")
	// ErrMyself: the remote peer id is our own (octez Myself).
	ErrMyself = errors.New("p2ppool: connected to myself")
	// ErrLocalMetadataTooLarge: the metadata this node would send does
	// not fit one chunk. A local fault: the peer is not blamed.
	ErrLocalMetadataTooLarge = errors.New("p2ppool: local connection metadata does not fit one chunk")
	// ErrDecipher: a chunk failed authentication (octez Decipher_error, or
	// Invalid_auth on the ack chunk).
	ErrDecipher = errors.New("p2ppool: decipher failure")
	// ErrInvalidChunkSize: a chunk header announced fewer bytes than a MAC
	// (octez Invalid_incoming_ciphertext_size).
	ErrInvalidChunkSize = errors.New("p2ppool: invalid chunk size")
	// ErrInvalidMessageSize: a message is empty, shorter than its tag, or
	// larger than the configured maximum (octez Invalid_message_size).
	ErrInvalidMessageSize = errors.New("p2ppool: invalid message size")
	// ErrRejected: the peer answered our ack with a nack. The error is a
	// *RejectedError carrying the motive and alternative points.
	ErrRejected = errors.New("p2ppool: rejected by peer")
	// ErrNoCommonVersion: chain name or versions are incompatible. The
	// error is a *VersionError carrying the nack motive.
	ErrNoCommonVersion = errors.New("p2ppool: no common version")
	// ErrTimeout: the handshake did not finish within its time bound.
	ErrTimeout = errors.New("p2ppool: handshake timeout")
	// ErrFirstMessageTimeout: the peer's connection message did not
	// arrive within Config.FirstMessageTimeout. It matches ErrTimeout.
	ErrFirstMessageTimeout = fmt.Errorf("%w: no connection message in time", ErrTimeout)
	// ErrClosedDuringHandshake: the peer closed the connection before the
	// handshake ended (octez Rejected_socket_connection on the ack).
	ErrClosedDuringHandshake = errors.New("p2ppool: connection closed during handshake")
)

// Stage names the handshake step an error happened in. octez greylists the
// remote address only for some errors of the stages before the ack, so the
// stage is part of every handshake error.
type Stage uint8

// Handshake stages, in wire order.
const (
	StageConnectionMessage Stage = iota + 1 // cleartext connection message
	StageMetadata                           // first encrypted chunk
	StageAck                                // ack / nack chunk
)

func (s Stage) String() string {
	switch s {
	case StageConnectionMessage:
		return "connection message"
	case StageMetadata:
		return "metadata"
	case StageAck:
		return "ack"
	}
	return fmt.Sprintf("stage(%d)", uint8(s))
}

// HandshakeError wraps every error of Authenticate, Accept and Nack with the
// stage it happened in and, once known, the remote peer id.
type HandshakeError struct {
	Stage Stage
	// Peer is the remote peer id, zero when the failure came before the
	// connection message was decoded.
	Peer [16]byte
	Err  error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake: %v: %v", e.Stage, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// RejectedError and VersionError are re-exported by the root package as
// type aliases, so their docs speak to users and name the root package's
// constants (NackNoMotive is wire.NoMotive, and so on).

// RejectedError is a peer's nack: it refused the connection (octez
// Rejected_by_nack). errors.Is(err, ErrRejected) holds.
type RejectedError struct {
	// Motive is the reason the peer gave; NackNoMotive from a peer
	// speaking p2p_version 0, whose nack carries none.
	Motive wire.NackMotive
	// Points are the alternative points the peer suggested, nil when it
	// suggested none; the pool learns them.
	Points []netip.AddrPort
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("p2ppool: rejected by peer: %v (%d alternative points)", e.Motive, len(e.Points))
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// VersionError says why version negotiation with a peer failed (octez
// Rejected_no_common_protocol): the chain names differ, or no
// distributed-db or p2p version is spoken by both sides. The peer is sent
// a nack with Motive. errors.Is(err, ErrNoCommonVersion) holds.
type VersionError struct {
	// Motive is what we put in our nack: NackUnknownChainName,
	// NackDeprecatedDistributedDBVersion or NackDeprecatedP2PVersion; when
	// both versions fail, the distributed-db one, as in octez.
	Motive wire.NackMotive
	// Remote is the version the peer announced.
	Remote wire.NetworkVersion
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("p2ppool: no common version: %v (peer announced chain %q, ddb %d, p2p %d)",
		e.Motive, e.Remote.ChainName, e.Remote.DistributedDB, e.Remote.P2P)
}

// Is makes errors.Is(err, ErrNoCommonVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrNoCommonVersion }

// ShouldGreylist reports whether octez would greylist the remote address for
// this handshake error: the filter of P2p_connect_handler.raw_authenticate,
// which covers proof-of-work, decipher, size and decoding failures of the
// steps before the ack. Ack-stage failures, timeouts, peer closes and
// short chunks (L < 16) are never greylisted.
func ShouldGreylist(err error) bool {
	var he *HandshakeError
	if !errors.As(err, &he) || he.Stage == StageAck {
		return false
	}
	switch {
	case errors.Is(err, ErrNotEnoughProofOfWork),
		errors.Is(err, ErrDecipher),
		errors.Is(err, ErrInvalidMessageSize),
		errors.Is(err, wire.ErrTruncated),
		errors.Is(err, wire.ErrTrailingBytes),
		errors.Is(err, wire.ErrTooLarge),
		errors.Is(err, wire.ErrInvalid):
		return true
	}
	return false
}
