package peersfile

import (
	"encoding/json"
	"net/netip"
	"time"
)

// DefaultHistorySize is the number of events octez keeps per peer
// (P2p_peer_state.Info.log_size); Load and Decode keep at most this many
// when given a size ≤ 0.
const DefaultHistorySize = 100

// Record is one known peer as stored in peers.json (octez
// P2p_peer_state.Info.encoding). The peer's connection state and watchers
// are not stored: a loaded peer is disconnected.
type Record struct {
	// PeerID is the peer's identity hash, written as its base58check text
	// ("id…").
	PeerID [16]byte
	// Created is when the peer was first registered.
	Created time.Time
	// Trusted is the peer's trusted flag; false is written by omission.
	Trusted bool
	// Metadata is the application's peer metadata (octez writes
	// Peer_metadata, see EmptyPeerMetadata), kept opaque: any JSON value,
	// stored without whitespace, every token exactly as read. It is
	// required: Encode refuses an empty one.
	Metadata json.RawMessage
	// Events is the peer's event log, oldest first; omitted when empty.
	Events []Event
	// LastFailedConnection, LastRejectedConnection,
	// LastEstablishedConnection and LastDisconnection are the point and
	// time of the latest such event, or nil (omitted) when there was
	// none. Octez never sets a peer's last failed connection; it is only
	// carried over from the file.
	LastFailedConnection      *ConnPoint
	LastRejectedConnection    *ConnPoint
	LastEstablishedConnection *ConnPoint
	LastDisconnection         *ConnPoint
	// Unknown holds the fields octez does not define, in file order, so
	// that a file written by a newer version survives our round trip.
	// They are written after the known fields. Note that octez itself
	// refuses a record with unknown fields (the whole file then fails to
	// load), so Unknown is only ever non-empty for files that some other
	// writer already made unreadable to today's octez.
	Unknown []Field
}

// EventKind is a peer event kind (octez P2p_peer.Pool_event.kind), as its
// JSON string.
type EventKind string

// The peer event kinds octez defines, in its declaration order. Only
// EventIncomingRequest, EventRequestRejected, EventConnectionEstablished
// and EventExternalDisconnection are ever raised by octez.
const (
	// EventIncomingRequest: a handshake was accepted (Accepting_request).
	EventIncomingRequest EventKind = "incoming_request"
	// EventRejectingRequest: we refused the peer (never raised by octez).
	EventRejectingRequest EventKind = "rejecting_request"
	// EventRequestRejected: the Ack/Nack exchange failed.
	EventRequestRejected EventKind = "request_rejected"
	// EventConnectionEstablished: a connection was created.
	EventConnectionEstablished EventKind = "connection_established"
	// EventDisconnection: we closed the connection (never raised by octez).
	EventDisconnection EventKind = "disconnection"
	// EventExternalDisconnection: the connection was closed, whatever the
	// cause.
	EventExternalDisconnection EventKind = "external_disconnection"
)

// Known reports whether k is one of the kinds octez defines. Decode keeps
// other kinds (written by a newer version) rather than failing; octez
// would refuse them.
func (k EventKind) Known() bool {
	switch k {
	case EventIncomingRequest, EventRejectingRequest, EventRequestRejected,
		EventConnectionEstablished, EventDisconnection, EventExternalDisconnection:
		return true
	}
	return false
}

// Event is one entry of a peer's event log (octez P2p_peer.Pool_event.t),
// written as {"kind", "timestamp", "addr", "port"?}.
type Event struct {
	Kind      EventKind
	Timestamp time.Time
	// Addr and Port are the connection's remote point. Addr is always a
	// 16-byte address after Decode (IPv4 as IPv4-mapped); a 4-byte one is
	// written mapped. HasPort false means no port (omitted), which octez
	// uses for incoming connections whose listening port is unknown.
	Addr    netip.Addr
	Port    uint16
	HasPort bool
	// Unknown holds fields octez does not define, as Record.Unknown.
	Unknown []Field
}

// ConnPoint is the point and time of a connection event (octez
// (P2p_connection.Id.t * Time.System.t)), written as
// [ {"addr", "port"?}, timestamp ].
type ConnPoint struct {
	// Addr, Port and HasPort are as in Event.
	Addr    netip.Addr
	Port    uint16
	HasPort bool
	Time    time.Time
	// Unknown holds fields of the {"addr", "port"} object octez does not
	// define, as Record.Unknown.
	Unknown []Field
}

// Field is one JSON object member kept verbatim: Name is the decoded key,
// Value the compact JSON value.
type Field struct {
	Name  string
	Value json.RawMessage
}
