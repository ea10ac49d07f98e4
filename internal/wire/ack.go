package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/p2ppool/p2ppool/dataenc"
)

// MaxNackPoints is the most points a Nack may carry (octez decodes its
// nack_list with max_length 100; it sends at most 50).
const MaxNackPoints = 100

// AckKind is the 1-byte union tag of the ack chunk.
type AckKind uint8

// The three ack cases, with their wire tags.
const (
	// AckOK accepts the connection (tag 0x00, no body).
	AckOK AckKind = 0x00
	// AckNack refuses with a motive and alternative points (tag 0x01);
	// sent to peers that announced p2p_version >= 1.
	AckNack AckKind = 0x01
	// AckNackV0 refuses without details (tag 0xFF); sent to peers that
	// announced p2p_version 0.
	AckNackV0 AckKind = 0xFF
)

// NackMotive is re-exported by the root package as a type alias: its doc
// speaks to users, and it must gain no exported method they should not
// call.

// NackMotive is the reason a node gives when it refuses a connection with
// a nack (octez P2p_rejection.t, an int16 on the wire). Codes other than
// the named ones (octez Unknown_motive) are kept as they are: they print
// as "unknown motive N" and re-encode unchanged.
type NackMotive int16

// The motives octez names (P2p_rejection.raw_motive). The root package
// re-exports them with a Nack prefix.
const (
	// NoMotive (octez No_motive) is also what a Nack_v_0 implies.
	NoMotive NackMotive = 0
	// TooManyConnections (octez Too_many_connections): the refusing node
	// has no free slot.
	TooManyConnections NackMotive = 1
	// UnknownChainName (octez Unknown_chain_name): the chain names differ.
	UnknownChainName NackMotive = 2
	// DeprecatedP2PVersion (octez Deprecated_p2p_version): no common
	// p2p_version.
	DeprecatedP2PVersion NackMotive = 3
	// DeprecatedDistributedDBVersion (octez
	// Deprecated_distributed_db_version): no common distributed_db_version.
	DeprecatedDistributedDBVersion NackMotive = 4
	// AlreadyConnected (octez Already_connected): the point or peer is
	// already connected.
	AlreadyConnected NackMotive = 5
)

// String describes the motive; unknown codes give "unknown motive N".
func (m NackMotive) String() string {
	switch m {
	case NoMotive:
		return "no motive"
	case TooManyConnections:
		return "too many connections"
	case UnknownChainName:
		return "unknown chain name"
	case DeprecatedP2PVersion:
		return "deprecated p2p version"
	case DeprecatedDistributedDBVersion:
		return "deprecated distributed db version"
	case AlreadyConnected:
		return "already connected"
	}
	return "unknown motive " + strconv.Itoa(int(m))
}

// Ack is octez P2p_socket.Ack.t, the second encrypted chunk.
type Ack struct {
	// Kind selects the case.
	Kind AckKind
	// Motive is the refusal reason (AckNack only).
	Motive NackMotive
	// Points are alternative peers to try (AckNack only). Decoding yields
	// nil for an empty list.
	Points []netip.AddrPort
}

// Append appends the encoding: the tag, and for AckNack the int16 motive
// followed by the point list as data-encoding list (u32 byte length of the
// whole run, then each point). Only the first MaxNackPoints points are
// written, so the output always decodes; points are written as by
// AppendPoint. A Kind that is none of the three cases is written as its
// bare tag (which DecodeAck refuses).
func (a Ack) Append(dst []byte) []byte {
	dst = append(dst, byte(a.Kind))
	if a.Kind != AckNack {
		return dst
	}
	dst = dataenc.AppendInt16(dst, int16(a.Motive))
	return appendPointList(dst, a.Points, MaxNackPoints)
}

// appendPointList writes a length-prefixed list of at most max points.
func appendPointList(dst []byte, pts []netip.AddrPort, max int) []byte {
	if len(pts) > max {
		pts = pts[:max]
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, p := range pts {
		dst = AppendPoint(dst, p)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// DecodeAck decodes the whole plaintext of the ack chunk. Unknown tags
// fail with ErrInvalid; more than MaxNackPoints points with ErrTooLarge;
// bytes after the case body with ErrTrailingBytes.
func DecodeAck(b []byte) (Ack, error) {
	var a Ack
	r := dataenc.MakeReader(b)
	r.Field("tag")
	a.Kind = AckKind(r.Uint8())
	if r.Err() == nil {
		switch a.Kind {
		case AckOK, AckNackV0:
		case AckNack:
			r.Field("nack_motive")
			a.Motive = NackMotive(r.Int16())
			r.Field("nack_list")
			a.Points = readPointList(&r, MaxNackPoints)
		default:
			r.Fail(ErrInvalid)
		}
	}
	if err := r.Finish("ack"); err != nil {
		return Ack{}, err
	}
	return a, nil
}

// readPointList reads a data-encoding list of points: u32 byte length,
// then points that must exactly fill it, at most max of them. The slice is
// preallocated from the bytes present, never from the claimed length.
func readPointList(r *dataenc.Reader, max int) []netip.AddrPort {
	s := r.BeginDynamic(-1)
	pts := readPoints(r, max)
	r.End(s)
	if r.Err() != nil {
		return nil
	}
	return pts
}

// readPoints reads points until r is exhausted (Variable.list), failing
// with ErrTooLarge past max points.
func readPoints(r *dataenc.Reader, max int) []netip.AddrPort {
	if r.Remaining() == 0 {
		return nil
	}
	pts := make([]netip.AddrPort, 0, min(max, r.Remaining()/minPointSize+1))
	for r.Remaining() > 0 {
		if len(pts) == max {
			r.Failf(ErrTooLarge, "more than "+strconv.Itoa(max)+" points")
			return nil
		}
		p := ReadPoint(r)
		if r.Err() != nil {
			return nil
		}
		pts = append(pts, p)
	}
	return pts
}
