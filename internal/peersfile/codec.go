package peersfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

// peerIDPrefix is the base58check prefix of octez peer ids
// (Crypto_box.Public_key_hash, "id…").
var peerIDPrefix = []byte{0x99, 0x67}

// JSON keys, in the order octez writes them (P2p_peer_state.Info.encoding,
// an obj9; P2p_peer.Pool_event.encoding, an obj4;
// P2p_connection.Id.encoding, an obj2).
const (
	keyPeerID          = "peer_id"
	keyCreated         = "created"
	keyTrusted         = "trusted"
	keyPeerMetadata    = "peer_metadata"
	keyEvents          = "events"
	keyLastFailed      = "last_failed_connection"
	keyLastRejected    = "last_rejected_connection"
	keyLastEstablished = "last_established_connection"
	keyLastDisconn     = "last_disconnection"

	keyKind      = "kind"
	keyTimestamp = "timestamp"
	keyAddr      = "addr"
	keyPort      = "port"
)

var (
	recordKeys = []string{keyPeerID, keyCreated, keyTrusted, keyPeerMetadata, keyEvents,
		keyLastFailed, keyLastRejected, keyLastEstablished, keyLastDisconn}
	eventKeys = []string{keyKind, keyTimestamp, keyAddr, keyPort}
	idKeys    = []string{keyAddr, keyPort}
)

// ErrCorrupt is wrapped by every error reporting data that is not a valid
// peers file: bad JSON, or JSON that does not match octez's schema.
var ErrCorrupt = errors.New("peersfile: corrupt peers file")

// ErrInvalid is wrapped by Encode and Save errors about records that
// cannot be written as a valid peers file (a time outside years
// 0000-9999, a missing address, metadata that is not JSON, …).
var ErrInvalid = errors.New("peersfile: record cannot be written")

// Decode parses the content of a peers.json file. It accepts what octez's
// File.load accepts (with the exceptions listed in the package
// documentation), plus: unknown fields (kept in Unknown fields),
// unknown event kinds, and plain IPv4 addresses. Only the last
// historySize events of each peer are kept, as octez's ring does
// (historySize ≤ 0 means DefaultHistorySize). Timestamps are returned in
// UTC, truncated to the millisecond like Encode writes them (octez itself
// never writes more), so that Decode(Encode(Decode(x))) equals Decode(x).
//
// Errors wrap ErrCorrupt and say where in the document the problem is.
func Decode(data []byte, historySize int) ([]Record, error) {
	if historySize <= 0 {
		historySize = DefaultHistorySize
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d := decoder{history: historySize}
	elems, err := d.list(root, "$")
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(elems))
	for i, e := range elems {
		r, err := d.record(e, fmt.Sprintf("$[%d]", i))
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

type decoder struct {
	history int
}

func schemaErr(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
}

// list returns the elements of a JSON list. Like data-encoding, an empty
// object stands for an empty list (kept for backwards compatibility in
// Json_encoding's Array destructor).
func (d *decoder) list(n *node, path string) ([]*node, error) {
	switch {
	case n.kind == kindArray:
		return n.elems, nil
	case n.kind == kindObject && len(n.fields) == 0:
		return nil, nil
	}
	return nil, schemaErr(path, "expected an array, found %s", kindName(n.kind))
}

// fields checks that n is an object without duplicate keys and splits its
// members into the known ones (by name) and the rest, in order.
func (d *decoder) fields(n *node, path string, known []string) (map[string]*node, []Field, error) {
	if n.kind != kindObject {
		return nil, nil, schemaErr(path, "expected an object, found %s", kindName(n.kind))
	}
	got := make(map[string]*node, len(n.fields))
	seen := make(map[string]bool, len(n.fields))
	var unknown []Field
	for _, m := range n.fields {
		if seen[m.key] {
			// data-encoding reports the second occurrence as an
			// unexpected field; a duplicate is ambiguous anyway.
			return nil, nil, schemaErr(path, "duplicate field %q", m.key)
		}
		seen[m.key] = true
		isKnown := false
		for _, k := range known {
			if m.key == k {
				isKnown = true
				break
			}
		}
		if isKnown {
			got[m.key] = m.val
		} else {
			unknown = append(unknown, Field{Name: m.key, Value: appendCompact(nil, m.val)})
		}
	}
	return got, unknown, nil
}

func (d *decoder) record(n *node, path string) (Record, error) {
	var r Record
	f, unknown, err := d.fields(n, path, recordKeys)
	if err != nil {
		return r, err
	}
	r.Unknown = unknown

	v, ok := f[keyPeerID]
	if !ok {
		return r, schemaErr(path, "missing field %q", keyPeerID)
	}
	if r.PeerID, err = d.peerID(v, path+"."+keyPeerID); err != nil {
		return r, err
	}
	if v, ok = f[keyCreated]; !ok {
		return r, schemaErr(path, "missing field %q", keyCreated)
	}
	if r.Created, err = d.timestamp(v, path+"."+keyCreated); err != nil {
		return r, err
	}
	if v, ok = f[keyTrusted]; ok {
		switch v.kind {
		case kindTrue:
			r.Trusted = true
		case kindFalse:
		default:
			return r, schemaErr(path+"."+keyTrusted, "expected a boolean, found %s", kindName(v.kind))
		}
	}
	if v, ok = f[keyPeerMetadata]; !ok {
		return r, schemaErr(path, "missing field %q", keyPeerMetadata)
	}
	r.Metadata = appendCompact(nil, v)
	if v, ok = f[keyEvents]; ok {
		elems, err := d.list(v, path+"."+keyEvents)
		if err != nil {
			return r, err
		}
		// Octez decodes the whole list, then adds it to a ring of
		// log_size entries, where only the last ones survive.
		evs := make([]Event, len(elems))
		for i, e := range elems {
			if evs[i], err = d.event(e, fmt.Sprintf("%s.%s[%d]", path, keyEvents, i)); err != nil {
				return r, err
			}
		}
		if len(evs) > d.history {
			evs = append([]Event(nil), evs[len(evs)-d.history:]...)
		}
		if len(evs) > 0 {
			r.Events = evs
		}
	}
	for _, c := range []struct {
		key string
		dst **ConnPoint
	}{
		{keyLastFailed, &r.LastFailedConnection},
		{keyLastRejected, &r.LastRejectedConnection},
		{keyLastEstablished, &r.LastEstablishedConnection},
		{keyLastDisconn, &r.LastDisconnection},
	} {
		if v, ok := f[c.key]; ok {
			if *c.dst, err = d.connPoint(v, path+"."+c.key); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

func (d *decoder) event(n *node, path string) (Event, error) {
	var ev Event
	f, unknown, err := d.fields(n, path, eventKeys)
	if err != nil {
		return ev, err
	}
	ev.Unknown = unknown
	v, ok := f[keyKind]
	if !ok {
		return ev, schemaErr(path, "missing field %q", keyKind)
	}
	if v.kind != kindString {
		return ev, schemaErr(path+"."+keyKind, "expected a string, found %s", kindName(v.kind))
	}
	ev.Kind = EventKind(v.str)
	if v, ok = f[keyTimestamp]; !ok {
		return ev, schemaErr(path, "missing field %q", keyTimestamp)
	}
	if ev.Timestamp, err = d.timestamp(v, path+"."+keyTimestamp); err != nil {
		return ev, err
	}
	ev.Addr, ev.Port, ev.HasPort, err = d.point(f, path)
	return ev, err
}

// point reads the "addr" and optional "port" fields shared by events and
// connection ids.
func (d *decoder) point(f map[string]*node, path string) (netip.Addr, uint16, bool, error) {
	v, ok := f[keyAddr]
	if !ok {
		return netip.Addr{}, 0, false, schemaErr(path, "missing field %q", keyAddr)
	}
	if v.kind != kindString {
		return netip.Addr{}, 0, false, schemaErr(path+"."+keyAddr, "expected a string, found %s", kindName(v.kind))
	}
	addr, err := parseAddr(v.str)
	if err != nil {
		return netip.Addr{}, 0, false, schemaErr(path+"."+keyAddr, "%v", err)
	}
	v, ok = f[keyPort]
	if !ok {
		return addr, 0, false, nil
	}
	port, err := d.port(v, path+"."+keyPort)
	return addr, port, true, err
}

// port reads a uint16 as data-encoding does: any JSON number whose value
// is an integer in range, so 9732.0 and 9.732e3 are accepted too.
func (d *decoder) port(n *node, path string) (uint16, error) {
	if n.kind != kindNumber {
		return 0, schemaErr(path, "expected a number, found %s", kindName(n.kind))
	}
	f, err := strconv.ParseFloat(string(n.raw), 64)
	if err != nil || math.Trunc(f) != f || f < 0 || f > math.MaxUint16 {
		return 0, schemaErr(path, "%s is not a port number (an integer from 0 to 65535)", n.raw)
	}
	return uint16(f), nil
}

func (d *decoder) connPoint(n *node, path string) (*ConnPoint, error) {
	// A tup2: an array of exactly two elements.
	if n.kind != kindArray {
		return nil, schemaErr(path, "expected an array, found %s", kindName(n.kind))
	}
	if len(n.elems) != 2 {
		return nil, schemaErr(path, "expected 2 elements, found %d", len(n.elems))
	}
	f, unknown, err := d.fields(n.elems[0], path+"[0]", idKeys)
	if err != nil {
		return nil, err
	}
	c := &ConnPoint{Unknown: unknown}
	if c.Addr, c.Port, c.HasPort, err = d.point(f, path+"[0]"); err != nil {
		return nil, err
	}
	if c.Time, err = d.timestamp(n.elems[1], path+"[1]"); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *decoder) peerID(n *node, path string) ([16]byte, error) {
	var id [16]byte
	if n.kind != kindString {
		return id, schemaErr(path, "expected a string, found %s", kindName(n.kind))
	}
	b, err := crypto.Base58CheckDecode(n.str, peerIDPrefix, len(id))
	if err != nil {
		return id, schemaErr(path, "invalid peer id: %v", err)
	}
	copy(id[:], b)
	return id, nil
}

// timestamp reads a Time.System.encoding value: a string (never a bare
// number, since data-encoding writes int64 as a string). The result is in
// UTC and truncated to the millisecond, the precision octez writes, so
// that a decoded record is exactly what Encode will write back.
func (d *decoder) timestamp(n *node, path string) (time.Time, error) {
	if n.kind != kindString {
		return time.Time{}, schemaErr(path, "expected a timestamp string, found %s", kindName(n.kind))
	}
	t, err := parseTimestamp(n.str)
	if err != nil {
		return time.Time{}, schemaErr(path, "%v", err)
	}
	return t.Truncate(time.Millisecond), nil
}

// Encode returns recs as octez writes peers.json: the same keys in the same
// order, defaults omitted, and octez's pretty-printed layout (OCaml Format,
// margin 78) without a final newline. Given the records octez would
// write, the output is byte for byte octez's; a record's Unknown fields
// follow its known ones.
//
// Timestamps are written with millisecond precision, truncated, so they
// must lie in years 0000-9999; addresses must be valid and without zone;
// Metadata and Unknown values must be valid JSON, and Unknown names must
// not repeat or shadow known fields. Errors wrap ErrInvalid.
func Encode(recs []Record) ([]byte, error) {
	root := &node{kind: kindArray, elems: make([]*node, 0, len(recs))}
	for i := range recs {
		n, err := encodeRecord(&recs[i])
		if err != nil {
			return nil, fmt.Errorf("%w: record %d (%s): %w", ErrInvalid, i,
				crypto.Base58CheckEncode(peerIDPrefix, recs[i].PeerID[:]), err)
		}
		root.elems = append(root.elems, n)
	}
	return prettyJSON(root), nil
}

// object accumulates the members of an object being encoded.
type object struct{ n *node }

func newObject() object { return object{&node{kind: kindObject}} }

func (o object) add(key string, v *node) {
	o.n.fields = append(o.n.fields, member{key: key, rawKey: quote(key), val: v})
}

// addUnknown appends the preserved fields after the known ones.
func (o object) addUnknown(fs []Field, known []string) error {
	for _, f := range fs {
		for _, m := range o.n.fields {
			if m.key == f.Name {
				return fmt.Errorf("field %q appears twice", f.Name)
			}
		}
		for _, k := range known {
			if f.Name == k {
				return fmt.Errorf("unknown field %q is a known field name", f.Name)
			}
		}
		v, err := parseJSON(f.Value)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
		o.add(f.Name, v)
	}
	return nil
}

func encodeTime(t time.Time) (*node, error) {
	s, err := formatTimestamp(t)
	if err != nil {
		return nil, err
	}
	return strNode(s), nil
}

func encodeRecord(r *Record) (*node, error) {
	o := newObject()
	o.add(keyPeerID, strNode(crypto.Base58CheckEncode(peerIDPrefix, r.PeerID[:])))
	t, err := encodeTime(r.Created)
	if err != nil {
		return nil, fmt.Errorf("created: %w", err)
	}
	o.add(keyCreated, t)
	if r.Trusted {
		o.add(keyTrusted, rawNode(kindTrue, "true"))
	}
	if len(r.Metadata) == 0 {
		return nil, errors.New("no peer metadata")
	}
	meta, err := parseJSON(r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("peer metadata: %w", err)
	}
	o.add(keyPeerMetadata, meta)
	if len(r.Events) > 0 {
		evs := &node{kind: kindArray, elems: make([]*node, 0, len(r.Events))}
		for i := range r.Events {
			n, err := encodeEvent(&r.Events[i])
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			evs.elems = append(evs.elems, n)
		}
		o.add(keyEvents, evs)
	}
	for _, c := range []struct {
		key string
		p   *ConnPoint
	}{
		{keyLastFailed, r.LastFailedConnection},
		{keyLastRejected, r.LastRejectedConnection},
		{keyLastEstablished, r.LastEstablishedConnection},
		{keyLastDisconn, r.LastDisconnection},
	} {
		if c.p == nil {
			continue
		}
		n, err := encodeConnPoint(c.p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.key, err)
		}
		o.add(c.key, n)
	}
	if err := o.addUnknown(r.Unknown, recordKeys); err != nil {
		return nil, err
	}
	return o.n, nil
}

func addPoint(o object, addr netip.Addr, port uint16, hasPort bool) error {
	s, err := formatAddr(addr)
	if err != nil {
		return err
	}
	o.add(keyAddr, strNode(s))
	if hasPort {
		o.add(keyPort, rawNode(kindNumber, strconv.Itoa(int(port))))
	}
	return nil
}

func encodeEvent(ev *Event) (*node, error) {
	o := newObject()
	o.add(keyKind, strNode(string(ev.Kind)))
	t, err := encodeTime(ev.Timestamp)
	if err != nil {
		return nil, err
	}
	o.add(keyTimestamp, t)
	if err := addPoint(o, ev.Addr, ev.Port, ev.HasPort); err != nil {
		return nil, err
	}
	if err := o.addUnknown(ev.Unknown, eventKeys); err != nil {
		return nil, err
	}
	return o.n, nil
}

func encodeConnPoint(c *ConnPoint) (*node, error) {
	o := newObject()
	if err := addPoint(o, c.Addr, c.Port, c.HasPort); err != nil {
		return nil, err
	}
	if err := o.addUnknown(c.Unknown, idKeys); err != nil {
		return nil, err
	}
	t, err := encodeTime(c.Time)
	if err != nil {
		return nil, err
	}
	return &node{kind: kindArray, elems: []*node{o.n, t}}, nil
}

// emptyPeerMetadata is octez's Peer_metadata.empty () as
// Peer_metadata.encoding writes it (src/lib_p2p_services/peer_metadata.ml):
// every counter is a Z written as a decimal string.
var emptyPeerMetadata = func() json.RawMessage {
	// zeros is an object of zero counters.
	zeros := func(keys ...string) string {
		s := "{"
		for i, k := range keys {
			if i > 0 {
				s += ","
			}
			s += `"` + k + `":"0"`
		}
		return s + "}"
	}
	// obj is an object of the given name/value pairs.
	obj := func(kv ...string) string {
		s := "{"
		for i := 0; i < len(kv); i += 2 {
			if i > 0 {
				s += ","
			}
			s += `"` + kv[i] + `":` + kv[i+1]
		}
		return s + "}"
	}
	const zero = `"0"`
	// sent_requests_encoding, peer_metadata.v1 case.
	messages := zeros("branch", "head", "block_header", "operations", "protocols",
		"operation_hashes_for_block", "operations_for_block", "checkpoint",
		"protocol_branch", "predecessor_header", "other")
	kinds := zeros("head", "branch")
	return json.RawMessage(obj(
		"responses", obj("sent", messages, "failed", messages, "received", messages,
			"unexpected", zero, "outdated", zero),
		"requests", obj("sent", messages, "received", messages, "failed", messages, "scheduled", messages),
		"valid_blocks", zero,
		"old_heads", zero,
		"prevalidator_results", zeros("cannot_download", "cannot_parse", "refused_by_prefilter",
			"refused_by_postfilter", "applied", "branch_delayed", "branch_refused", "refused",
			"duplicate", "outdated"),
		"unactivated_chains", zero,
		"inactive_chains", zero,
		"future_blocks_advertised", zero,
		"unadvertised", zeros("block", "operations", "protocol"),
		"advertisements", obj("sent", kinds, "received", kinds),
	))
}()

// EmptyPeerMetadata returns octez's initial peer metadata
// (Peer_metadata.empty), compact, with octez's key order and every counter
// "0". A Go node whose application uses octez's metadata encoding gives
// it to the peers it creates, so that octez can read its peers.json.
// Each call returns a fresh copy.
func EmptyPeerMetadata() json.RawMessage {
	return append(json.RawMessage(nil), emptyPeerMetadata...)
}
