package p2ppool

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/peersfile"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Encoding is one kind of application message: its tag on the wire and
// how its body is written and read. An application with several message
// kinds gives one Encoding per kind; the Msg type is usually an interface
// or a sum type over the kinds. Encodings are called from the pool's
// goroutines, concurrently: they must be safe for concurrent use.
type Encoding[Msg any] struct {
	// Tag is the kind's 2-byte tag. Tags 0x0001..0x0005 belong to the P2P
	// messages and are refused by New.
	Tag uint16
	// Name names the kind in errors and logs.
	Name string
	// MaxLength bounds the body (the bytes after the tag). A peer sending
	// more loses its connection. Zero means the pool's
	// Config.Budgets.MaxMessageSize (8 MiB by default).
	MaxLength int
	// Encode appends the body of msg to dst. It returns ok=false, without
	// appending, when msg is not of this kind, so the pool tries the next
	// encoding (octez's unwrap).
	Encode func(dst []byte, msg Msg) (out []byte, ok bool, err error)
	// Decode reads a body. body is only valid during the call: copy what
	// the message keeps.
	Decode func(body []byte) (Msg, error)
	// DecodedSize, if set, bounds the memory, in bytes, that Decode's
	// result for a body of n bytes may hold: the copies it makes, its
	// slices and what they point to. It must hold for every body a peer
	// can send, not only honest ones: a list of empty items is a few
	// bytes an element on the wire and a slice header or more in memory
	// (dataenc.MaxElements bounds the count). The pool's incoming budgets
	// (Config.Limits.IncomingMessageQueueSize and TotalIncomingQueueSize) count
	// each message as the larger of its wire size and this bound, taken
	// from the size and tag before the body is read, so a message whose
	// decoded form would exceed the budget waits for room before it is
	// decoded. If nil, the decoded message is taken to hold no more than
	// its wire size (a copy of the body, as StringEncoding's); it must be
	// set for a Decode that holds more.
	DecodedSize func(n int) int
}

// StringEncoding is an Encoding whose body is one data-encoding string
// (4-byte big-endian length, then the bytes), like many octez messages.
// wrap builds the Msg from the text; unwrap returns the text of a Msg of
// this kind and false for other kinds.
func StringEncoding[Msg any](tag uint16, name string, maxLength int, wrap func(string) Msg, unwrap func(Msg) (string, bool)) Encoding[Msg] {
	return Encoding[Msg]{
		Tag:       tag,
		Name:      name,
		MaxLength: maxLength,
		Encode: func(dst []byte, msg Msg) ([]byte, bool, error) {
			s, ok := unwrap(msg)
			if !ok {
				return dst, false, nil
			}
			return dataenc.AppendString(dst, s), true, nil
		},
		Decode: func(body []byte) (Msg, error) {
			r := dataenc.MakeReader(body)
			s := r.String(-1)
			if err := r.Finish(name); err != nil {
				var zero Msg
				return zero, err
			}
			return wrap(s), nil
		},
	}
}

// CodecEncoding is the Encoding of a message set whose one kind is T,
// its body written and read by a dataenc.Codec: Name, MaxLength and
// DecodedSize are the codec's Name, MaxSize and DecodedSize. With several
// kinds, write each Encoding with Encode answering ok=false for the
// others (see StringEncoding).
func CodecEncoding[T any](tag uint16, c dataenc.Codec[T]) Encoding[T] {
	return Encoding[T]{
		Tag:       tag,
		Name:      c.Name,
		MaxLength: c.MaxSize,
		Encode: func(dst []byte, m T) ([]byte, bool, error) {
			out, err := c.Encode(dst, &m)
			return out, true, err
		},
		Decode:      c.Decode,
		DecodedSize: c.DecodedSize,
	}
}

// NetworkVersion is the network version of a connection (octez
// Network_version.t): what each side announces in its connection message
// and, once both are known, what the connection speaks. Its fields are
//
//	ChainName     string // octez chain_name, e.g. "TEZOS_MAINNET"
//	DistributedDB uint16 // octez distributed_db_version, of the application
//	P2P           uint16 // octez p2p_version, of the pool's own protocol
//
// The chain name must be byte-equal on both sides; each version is
// negotiated from the lists each side supports.
type NetworkVersion = wire.NetworkVersion

// Defaults of MessageConfig, those of an octez mainnet node.
const (
	DefaultChainName = "TEZOS_MAINNET"
)

// DefaultDistributedDBVersions are the distributed-db versions octez
// supports (announcing the highest, 2).
var DefaultDistributedDBVersions = []uint16{0, 1, 2}

// p2pVersions are the p2p versions octez supports; 1 added nacks with
// alternative points. They are the protocol's, not the application's.
var p2pVersions = []uint16{0, 1}

// MessageConfig is the application's message set (octez message_config):
// the encodings, and the chain name and distributed-db versions announced
// in every connection message and negotiated with each peer.
type MessageConfig[Msg any] struct {
	Encodings []Encoding[Msg]
	// ChainName must be byte-equal on both sides. If empty,
	// DefaultChainName.
	ChainName string
	// DistributedDBVersions are the application protocol versions this
	// node speaks; the highest is announced. If empty,
	// DefaultDistributedDBVersions.
	DistributedDBVersions []uint16
}

// PeerMetaConfig describes the application's per-peer metadata (octez
// peer_meta_config): what a new peer starts with and how peers are scored.
// The metadata is saved in the peers file as JSON.
type PeerMetaConfig[PeerMeta any] struct {
	// Initial returns the metadata of a newly known peer. It is called
	// outside the pool's lock, also for peers that turn out to be known
	// already. If nil, the zero PeerMeta.
	Initial func() PeerMeta
	// Score ranks peers; the lowest scores are forgotten first when the
	// peer table is full. It is computed when a peer becomes known and
	// when Peers.SetMeta changes its metadata, never under the pool's lock,
	// so it may call the pool, Close included (see Pool.Close). If nil,
	// every peer scores 1.0, as in octez.
	//
	// Score and UnmarshalJSON are also called by New, for the
	// peers of the peers file, before the pool exists.
	Score func(PeerMeta) float64
	// MarshalJSON and UnmarshalJSON convert the metadata for the peers
	// file. If nil, encoding/json.
	MarshalJSON   func(PeerMeta) ([]byte, error)
	UnmarshalJSON func([]byte) (PeerMeta, error)
}

// ConnMetaConfig describes the metadata exchanged in the handshake (octez
// conn_meta_config). Local, Encode and Decode are required; OctezConnMeta
// is octez's own. Local and Encode are called once, by New; Decode and
// PrivateNode during each handshake, outside the pool's lock: they may
// call the pool, Close included.
type ConnMetaConfig[ConnMeta any] struct {
	// Local returns the metadata this node announces to peer. The pool
	// calls it once per handshake, on the handshake's goroutine and
	// outside its lock, once the peer's connection message has been read
	// (so its id is known) and before sending its own metadata, where
	// octez calls conn_meta_value (src/lib_p2p/p2p_socket.ml:441).
	// octez's conn_meta_value took the peer id until 2019 and takes unit
	// since (commit 90d8d652a9 dropped it as unused); it is passed here
	// so that an application can announce different metadata to
	// different peers. The encoded value must fit one chunk: a larger one
	// fails that handshake with an error matching
	// ErrLocalMetadataTooLarge, and nobody is greylisted.
	Local func(peer PeerID) ConnMeta
	// Encode appends the binary form of m to dst; it must fit one chunk
	// (65,517 bytes).
	Encode func(dst []byte, m ConnMeta) []byte
	// Decode reads a peer's metadata. A failure is a protocol violation
	// that greylists the peer's address, as in octez.
	Decode func(b []byte) (ConnMeta, error)
	// PrivateNode reports whether a peer with this metadata runs in
	// private mode: its points are never advertised and its Bootstrap
	// requests get no answer. If nil, no peer is private.
	PrivateNode func(ConnMeta) bool
}

// Metadata is octez's connection metadata (Connection_metadata): what the
// Tezos shell announces in the handshake.
type Metadata struct {
	// DisableMempool: the sender runs without a mempool.
	DisableMempool bool
	// PrivateNode: the sender runs in private mode.
	PrivateNode bool
}

// codec is the non-generic view of the pool's message set plus its typed
// encoders: the one place where Msg meets bytes.
type codec[Msg any] struct {
	byTag     map[uint16]*Encoding[Msg]
	encodings []Encoding[Msg]
	// defaultMax bounds the body of an encoding with no MaxLength
	// (Config.Budgets.MaxMessageSize).
	defaultMax int
	// maxMessage is the largest whole message (size prefix included) a
	// peer may send, for the socket's early size check.
	maxMessage int
}

func newCodec[Msg any](mc *MessageConfig[Msg], defaultMax int) (*codec[Msg], error) {
	if len(mc.Encodings) == 0 {
		return nil, errors.New("p2ppool: message config: no encodings")
	}
	c := &codec[Msg]{byTag: make(map[uint16]*Encoding[Msg], len(mc.Encodings)), encodings: mc.Encodings, defaultMax: defaultMax}
	// P2P messages bound the size too: an Advertise of 100 points.
	c.maxMessage = 4 + 2 + wire.MaxAdvertisePoints*wire.MaxPointSize
	for i := range c.encodings {
		e := &c.encodings[i]
		switch {
		case wire.IsReservedTag(e.Tag):
			return nil, fmt.Errorf("p2ppool: message config: encoding %q: tag %#04x is reserved for P2P messages", e.Name, e.Tag)
		case c.byTag[e.Tag] != nil:
			return nil, fmt.Errorf("p2ppool: message config: encodings %q and %q share tag %#04x", c.byTag[e.Tag].Name, e.Name, e.Tag)
		case e.Encode == nil || e.Decode == nil:
			return nil, fmt.Errorf("p2ppool: message config: encoding %q: Encode and Decode are required", e.Name)
		case e.MaxLength < 0 || e.MaxLength > wire.MaxMessageSize-6:
			return nil, fmt.Errorf("p2ppool: message config: encoding %q: max length %d outside [0, %d]", e.Name, e.MaxLength, wire.MaxMessageSize-6)
		}
		c.byTag[e.Tag] = e
		c.maxMessage = max(c.maxMessage, 6+c.maxBody(e))
	}
	return c, nil
}

// maxBody is the largest body of e: its MaxLength, or the pool's
// MaxMessageSize when it sets none.
func (c *codec[Msg]) maxBody(e *Encoding[Msg]) int {
	if e.MaxLength > 0 {
		return e.MaxLength
	}
	return c.defaultMax
}

// appendMessage appends msg as a whole P2P message (size, tag, body).
func (c *codec[Msg]) appendMessage(dst []byte, msg Msg) ([]byte, error) {
	for i := range c.encodings {
		e := &c.encodings[i]
		out, start := wire.BeginMessage(dst, e.Tag)
		out, ok, err := e.Encode(out, msg)
		if !ok && err == nil {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("p2ppool: encode %s: %w", e.Name, err)
		}
		if body, limit := len(out)-start-6, c.maxBody(e); body > limit {
			return dst, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrMessageTooLarge, e.Name, body, limit)
		}
		out, err = wire.EndMessage(out, start)
		if err != nil {
			return dst, fmt.Errorf("%w: %s: %w", ErrMessageTooLarge, e.Name, err)
		}
		return out, nil
	}
	return dst, ErrNoEncoding
}

// lookup returns the encoding of tag, or nil. A few encodings are
// scanned (cheaper than hashing, on every message received); many are
// looked up in the map.
func (c *codec[Msg]) lookup(tag uint16) *Encoding[Msg] {
	if len(c.encodings) <= 8 {
		for i := range c.encodings {
			if c.encodings[i].Tag == tag {
				return &c.encodings[i]
			}
		}
		return nil
	}
	return c.byTag[tag]
}

// decode decodes an application message body of the given tag. charge
// is what the message counts against the incoming budgets (see charge).
func (c *codec[Msg]) decode(tag uint16, body []byte) (m Msg, charge int, err error) {
	e := c.lookup(tag)
	if e == nil {
		return m, 0, fmt.Errorf("%w %#04x", ErrUnknownTag, tag)
	}
	if limit := c.maxBody(e); len(body) > limit {
		return m, 0, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrMessageTooLarge, e.Name, len(body), limit)
	}
	m, err = e.Decode(body)
	if err != nil {
		return m, 0, fmt.Errorf("%w: %s: %w", ErrDecode, e.Name, err)
	}
	return m, chargeOf(e, 6+len(body)), nil
}

// charge is what a message of size bytes (size prefix and tag included)
// with tag counts against the incoming budgets: the larger of its wire
// size and the memory its Encoding's DecodedSize says its decoded form
// may hold. The larger, not the sum: the wire bytes are the reader's
// buffer, reused for the next message once this one is decoded, while
// the decoded form is what waits in the queue; the two coexist only for
// the one message a connection's reader is decoding. A tag without an
// encoding, or a body over its bound, is charged its wire size: it is
// refused once read, never decoded.
func (c *codec[Msg]) charge(tag uint16, size int) int {
	e := c.lookup(tag)
	if e == nil || size-6 > c.maxBody(e) {
		return size
	}
	return chargeOf(e, size)
}

func chargeOf[Msg any](e *Encoding[Msg], size int) int {
	if e.DecodedSize == nil {
		return size
	}
	return max(size, e.DecodedSize(size-6))
}

// connMetaHooks is ConnMetaConfig seen by the core: metadata as any.
type connMetaHooks struct {
	// local is the metadata this node announces to a peer, and its
	// encoding.
	local func(peer PeerID) (meta any, enc []byte)
	// decode reads a peer's metadata and whether it runs in private mode.
	decode func([]byte) (meta any, private bool, err error)
}

// resolve checks cc and fills its optional PrivateNode.
func (cc ConnMetaConfig[ConnMeta]) resolve() (ConnMetaConfig[ConnMeta], error) {
	if cc.Local == nil || cc.Encode == nil || cc.Decode == nil {
		return cc, errors.New("p2ppool: conn meta config: Local, Encode and Decode are required (OctezConnMeta is octez's)")
	}
	if cc.PrivateNode == nil {
		cc.PrivateNode = func(ConnMeta) bool { return false }
	}
	return cc, nil
}

// OctezConnMeta is octez's connection metadata configuration
// (Connection_metadata): this node announces Metadata{}.
func OctezConnMeta() ConnMetaConfig[Metadata] {
	return ConnMetaConfig[Metadata]{
		Local: func(PeerID) Metadata { return Metadata{} },
		Encode: func(dst []byte, m Metadata) []byte {
			return wire.Metadata(m).Append(dst)
		},
		Decode: func(b []byte) (Metadata, error) {
			m, err := wire.DecodeMetadata(b)
			return Metadata(m), err
		},
		PrivateNode: func(m Metadata) bool { return m.PrivateNode },
	}
}

// OctezPeerMeta is the peer metadata configuration of the octez shell:
// the metadata is kept as raw JSON, a new peer starts with octez's
// initial metadata, and every peer scores 1.0, so a peers.json written by
// octez round-trips unchanged.
func OctezPeerMeta() PeerMetaConfig[OctezPeerMetadata] {
	return PeerMetaConfig[OctezPeerMetadata]{
		Initial: func() OctezPeerMetadata { return peersfile.EmptyPeerMetadata() },
	}
}

// hooks fills PeerMetaConfig's defaults and converts it for the core.
func (pc PeerMetaConfig[PeerMeta]) hooks() peerMetaHooks {
	h := peerMetaHooks{
		initial: func() any { var zero PeerMeta; return zero },
		score:   func(any) float64 { return 1.0 },
		marshal: func(m any) ([]byte, error) { return json.Marshal(m) },
		unmarshal: func(b []byte) (any, error) {
			var m PeerMeta
			err := json.Unmarshal(b, &m)
			return m, err
		},
	}
	if pc.Initial != nil {
		h.initial = func() any { return pc.Initial() }
	}
	if pc.Score != nil {
		h.score = func(m any) float64 { return pc.Score(metaAs[PeerMeta](m, "peer metadata")) }
	}
	if pc.MarshalJSON != nil {
		h.marshal = func(m any) ([]byte, error) { return pc.MarshalJSON(metaAs[PeerMeta](m, "peer metadata")) }
	}
	if pc.UnmarshalJSON != nil {
		h.unmarshal = func(b []byte) (any, error) { return pc.UnmarshalJSON(b) }
	}
	return h
}

// metaAs returns the metadata v, which the core keeps as any, as the
// application's type T. Every value the core holds comes from the typed
// functions of PeerMetaConfig and ConnMetaConfig, converted where New
// builds the hooks, so v is a T or, when T is an interface type, nil (a
// nil T). Anything else is a bug in the pool: metaAs panics naming what
// it was and what it should be, rather than hand the application a zero
// value it would take for real metadata.
func metaAs[T any](v any, what string) T {
	if t, ok := v.(T); ok {
		return t
	}
	var zero T
	if v == nil && any(zero) == nil {
		return zero // T is an interface type: a nil T was stored as nil
	}
	panic(fmt.Sprintf("p2ppool: %s holds a %T where the pool's type is %v: a bug in p2ppool, please report it", what, v, reflect.TypeFor[T]()))
}
