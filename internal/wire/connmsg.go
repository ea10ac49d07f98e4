package wire

import (
	"encoding/binary"
	"strconv"

	"github.com/p2ppool/p2ppool/dataenc"
)

const (
	// MaxConnectionMessageBody is the largest connection message body: its
	// length travels in a u16 (octez refuses to write one of 2^16 bytes or
	// more, and a reader cannot be told about more).
	MaxConnectionMessageBody = 65535

	// MinConnectionMessageBody is the body size with an empty chain name:
	// port 2 + public key 32 + PoW stamp 24 + nonce 24 + string prefix 4 +
	// two u16 versions.
	MinConnectionMessageBody = 90

	// maxChainNameInFrame is the longest chain name that still fits a frame.
	maxChainNameInFrame = MaxConnectionMessageBody - MinConnectionMessageBody
)

// ConnectionMessage is the cleartext first message each side sends (octez
// P2p_socket.Connection_message). On the wire it is framed by a 2-byte
// big-endian body length; the whole frame, prefix included, is what the
// nonce derivation hashes, so encode and decode are exact inverses.
type ConnectionMessage struct {
	// Port is the sender's listening port; 0 means none (octez maps 0 to
	// None both ways, so there is no way to announce port 0).
	Port uint16
	// PublicKey is the sender's X25519 public key.
	PublicKey [32]byte
	// ProofOfWorkStamp is the stamp proving work on PublicKey.
	ProofOfWorkStamp [24]byte
	// MessageNonce is fresh randomness, only used to derive the nonces.
	MessageNonce [24]byte
	// Version is the announced network version.
	Version NetworkVersion
}

// BodySize returns the length of m's body (without the 2-byte prefix).
func (m *ConnectionMessage) BodySize() int {
	return 2 + 32 + 24 + 24 + NetworkVersionSize(m.Version)
}

// AppendFrame appends the 2-byte length prefix and the body. It fails with
// an error wrapping ErrTooLarge, leaving dst unchanged, if the body would
// exceed MaxConnectionMessageBody (a chain name over 65445 bytes).
func (m *ConnectionMessage) AppendFrame(dst []byte) ([]byte, error) {
	n := m.BodySize()
	if n > MaxConnectionMessageBody {
		return dst, &EncodeError{What: "connection message: body of " + strconv.Itoa(n) + " bytes", Err: ErrTooLarge}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = binary.BigEndian.AppendUint16(dst, m.Port)
	dst = append(dst, m.PublicKey[:]...)
	dst = append(dst, m.ProofOfWorkStamp[:]...)
	dst = append(dst, m.MessageNonce[:]...)
	return AppendNetworkVersion(dst, m.Version), nil
}

// DecodeConnectionMessage decodes a connection message body, i.e. the bytes
// after the 2-byte length prefix. Like octez it must consume the body
// exactly: short input fails with ErrTruncated, leftover bytes with
// ErrTrailingBytes. A body longer than MaxConnectionMessageBody cannot have
// come from a frame and fails with ErrTooLarge.
func DecodeConnectionMessage(body []byte) (ConnectionMessage, error) {
	var m ConnectionMessage
	if len(body) > MaxConnectionMessageBody {
		return m, decodeErr("connection message", "", ErrTooLarge)
	}
	r := dataenc.MakeReader(body)
	r.Field("port")
	m.Port = r.Uint16()
	r.Field("pubkey")
	copy(m.PublicKey[:], r.Fixed(32))
	r.Field("proof_of_work_stamp")
	copy(m.ProofOfWorkStamp[:], r.Fixed(24))
	r.Field("message_nonce")
	copy(m.MessageNonce[:], r.Fixed(24))
	m.Version = ReadNetworkVersion(&r, maxChainNameInFrame)
	if err := r.Finish("connection message"); err != nil {
		return ConnectionMessage{}, err
	}
	return m, nil
}
