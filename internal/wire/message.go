package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/p2ppool/p2ppool/dataenc"
)

// MaxMessageSize bounds a whole P2P message, its 4-byte size prefix
// included (octez P2p_message.encoding is check_size 100 MiB).
const MaxMessageSize = 100 << 20

// MaxAdvertisePoints is the most points an Advertise may carry.
const MaxAdvertisePoints = 100

// PeerIDSize is the size of a binary peer id (Blake2b-128 of the public
// key) in Swap_request and Swap_ack.
const PeerIDSize = 16

// messageHeaderSize is the size prefix plus the tag.
const messageHeaderSize = 4 + 2

// Tags of the P2P-layer messages, cases of the same u16-tagged union as the
// application messages.
const (
	// TagDisconnect asks the peer to close (never sent by octez).
	TagDisconnect uint16 = 0x0001
	// TagBootstrap asks for known points.
	TagBootstrap uint16 = 0x0002
	// TagAdvertise carries known points.
	TagAdvertise uint16 = 0x0003
	// TagSwapRequest proposes a point to swap to.
	TagSwapRequest uint16 = 0x0004
	// TagSwapAck answers a swap request with a point.
	TagSwapAck uint16 = 0x0005
)

// IsReservedTag reports whether tag is one of the five P2P-layer tags,
// which application messages must not use. Tag 0 is not reserved: the P2P
// union has no case for it, so it is as available to an application
// encoding as any other unused tag (octez's distributed DB starts at
// 0x10). Whether a tag is known at all is the application's business: octez
// treats an unknown tag as a decoding error and greylists the peer, and
// DecodeMessage leaves that decision to the caller by returning the raw
// body for every non-reserved tag.
func IsReservedTag(tag uint16) bool { return tag >= TagDisconnect && tag <= TagSwapAck }

// Message is one post-handshake P2P message (octez P2p_message.t), with
// application messages carried as a raw body.
type Message struct {
	// Tag selects the case.
	Tag uint16
	// Points: Advertise only, at most MaxAdvertisePoints.
	Points []netip.AddrPort
	// Point: Swap_request and Swap_ack only.
	Point netip.AddrPort
	// PeerID: Swap_request and Swap_ack only.
	PeerID [PeerIDSize]byte
	// Body: application messages (every tag IsReservedTag rejects), the
	// bytes after the tag. DecodeMessage makes it alias its input.
	Body []byte
}

// Append appends the whole envelope: u32 size of tag and body, u16 tag,
// body. Only the fields of the Tag's case are written; Advertise writes at
// most MaxAdvertisePoints points, and points are written as by
// AppendPoint, so P2P messages always decode. The caller keeps an
// application Body within MaxMessageSize (or uses
// BeginMessage/EndMessage, which check).
func (m *Message) Append(dst []byte) []byte {
	dst, start := BeginMessage(dst, m.Tag)
	switch m.Tag {
	case TagDisconnect, TagBootstrap:
	case TagAdvertise:
		pts := m.Points
		if len(pts) > MaxAdvertisePoints {
			pts = pts[:MaxAdvertisePoints]
		}
		for _, p := range pts {
			dst = AppendPoint(dst, p)
		}
	case TagSwapRequest, TagSwapAck:
		dst = AppendPoint(dst, m.Point)
		dst = append(dst, m.PeerID[:]...)
	default:
		dst = append(dst, m.Body...)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// BeginMessage appends a placeholder size and tag and returns the slice and
// the offset of the envelope within it, so a body encoder can append
// directly after it and EndMessage can fill in the size without copying.
func BeginMessage(dst []byte, tag uint16) (out []byte, start int) {
	start = len(dst)
	dst = append(dst, 0, 0, 0, 0)
	return binary.BigEndian.AppendUint16(dst, tag), start
}

// EndMessage fills in the size of the envelope begun at start, which runs
// to the end of b. If the envelope exceeds MaxMessageSize it returns
// b[:start] (dropping the partial message) and an error wrapping
// ErrTooLarge; a start that does not point at a begun envelope gives
// ErrInvalid.
func EndMessage(b []byte, start int) ([]byte, error) {
	if start < 0 || start > len(b)-messageHeaderSize {
		return b, &EncodeError{What: "message: bad start offset " + strconv.Itoa(start), Err: ErrInvalid}
	}
	total := len(b) - start
	if total > MaxMessageSize {
		return b[:start], &EncodeError{What: "message of " + strconv.Itoa(total) + " bytes", Err: ErrTooLarge}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(total-4))
	return b, nil
}

// MessageLen validates a message's 4-byte size prefix, as a streaming
// reader needs before it knows how much to read, and returns the total
// length of the message (4 + S). S below 2 (no room for the tag) fails
// with ErrInvalid; 4+S above max with ErrTooLarge; fewer than 4 header
// bytes with ErrTruncated. A max outside 1..MaxMessageSize means
// MaxMessageSize, the octez limit.
func MessageLen(hdr []byte, max int) (int, error) {
	if len(hdr) < 4 {
		return 0, decodeErr("message", "size", ErrTruncated)
	}
	if max <= 0 || max > MaxMessageSize {
		max = MaxMessageSize
	}
	s := binary.BigEndian.Uint32(hdr)
	if s < 2 {
		return 0, decodeErr("message", "size "+strconv.FormatUint(uint64(s), 10), ErrInvalid)
	}
	if uint64(s)+4 > uint64(max) {
		return 0, decodeErr("message", "size "+strconv.FormatUint(uint64(s), 10), ErrTooLarge)
	}
	return int(s) + 4, nil
}

// DecodeMessage decodes exactly one whole envelope (size prefix included).
// The size must be at least 2, within MaxMessageSize and equal to
// len(b)-4. P2P bodies must be consumed exactly (a non-empty Disconnect or
// Bootstrap body fails with ErrTrailingBytes); an Advertise with more than
// MaxAdvertisePoints points fails with ErrTooLarge; an unparsable point
// with ErrInvalid. Any other tag yields Body aliasing b, without
// allocating.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	total, err := MessageLen(b, MaxMessageSize)
	if err != nil {
		return m, err
	}
	switch {
	case len(b) < total:
		return m, decodeErr("message", "", ErrTruncated)
	case len(b) > total:
		return m, decodeErr("message", "", ErrTrailingBytes)
	}
	r := dataenc.MakeReader(b[4:])
	m.Tag = r.Uint16()
	what := "message"
	switch m.Tag {
	case TagDisconnect:
		what = "message: disconnect"
	case TagBootstrap:
		what = "message: bootstrap"
	case TagAdvertise:
		what = "message: advertise"
		r.Field("id")
		m.Points = readPoints(&r, MaxAdvertisePoints)
	case TagSwapRequest, TagSwapAck:
		what = "message: swap_request"
		if m.Tag == TagSwapAck {
			what = "message: swap_ack"
		}
		r.Field("point")
		m.Point = ReadPoint(&r)
		r.Field("peer_id")
		copy(m.PeerID[:], r.Fixed(PeerIDSize))
	default:
		m.Body = r.Rest()
	}
	if err := r.Finish(what); err != nil {
		return Message{}, err
	}
	return m, nil
}
