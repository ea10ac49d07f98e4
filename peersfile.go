package p2ppool

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/p2ppool/p2ppool/internal/peersfile"
)

// ErrPeersFileCorrupt is returned by New when Config.PeersFile.Path cannot be
// read as a peers file. The file has been moved aside, next to it, under a
// name the error gives (it is never overwritten), so a new call to New
// starts with no known peers.
var ErrPeersFileCorrupt = peersfile.ErrCorrupt

// PeersFileCorruptError is the error New returns for a corrupt peers
// file: it matches ErrPeersFileCorrupt, and says where the file was moved
// (MovedTo; empty, with MoveErr, when it could not be).
type PeersFileCorruptError = peersfile.CorruptError

// OctezPeerMetadata is the peer metadata of the octez shell, kept as raw
// JSON. With PeerMeta = OctezPeerMetadata, a zero PeerMetaConfig starts
// new peers with octez's empty metadata (every counter "0") and keeps the
// metadata of loaded peers untouched, so octez can read the peers file
// this pool writes.
type OctezPeerMetadata = json.RawMessage

var peerEventKinds = map[peersfile.EventKind]PeerEventKind{
	peersfile.EventIncomingRequest:       PeerEventIncomingRequest,
	peersfile.EventRejectingRequest:      PeerEventRejectingRequest,
	peersfile.EventRequestRejected:       PeerEventRequestRejected,
	peersfile.EventConnectionEstablished: PeerEventConnectionEstablished,
	peersfile.EventDisconnection:         PeerEventDisconnection,
	peersfile.EventExternalDisconnection: PeerEventExternalDisconnection,
}

// peersFile keeps the peer table in octez's peers.json: loaded by New,
// saved periodically, by Peers.Save and by Shutdown. mu serialises the
// saves and is held across the file's I/O only (lockSave, locks.go); the
// table is copied out under the pool lock, and the metadata encoded
// outside every lock (it is the application's code).
type peersFile struct {
	// Immutable after core.wire.
	pool *poolMutex
	cfg  *Config
	life *lifecycle // a save registers its goroutine (MarshalJSON may call back)
	tab  *tables

	mu orderedMutex[atSave]
	// saved: a Shutdown has saved the file (once: a Shutdown called from
	// MarshalJSON during that save must not save again).
	saved atomic.Bool
}

func pointAtOf(cp *peersfile.ConnPoint) PointAt {
	if cp == nil {
		return PointAt{}
	}
	pa := PointAt{Time: cp.Time}
	if cp.HasPort {
		pa.Point = netip.AddrPortFrom(cp.Addr.Unmap(), cp.Port)
	}
	return pa
}

func connPointOf(pa PointAt) *peersfile.ConnPoint {
	if pa.Time.IsZero() {
		return nil
	}
	cp := &peersfile.ConnPoint{Time: pa.Time}
	if pa.Point.IsValid() {
		cp.Addr, cp.Port, cp.HasPort = pa.Point.Addr(), pa.Point.Port(), true
	} else {
		cp.Addr = netip.IPv6Unspecified()
	}
	return cp
}

// load fills the peer table from the peers file (octez: peers are
// inserted without GC or events, and the points they were last seen at
// become known). The pool lock must not be held: the metadata decoder is
// the application's code; New calls it before the pool is shared.
func (f *peersFile) load() error {
	if f.cfg.PeersFile.Path == "" {
		return nil
	}
	recs, err := peersfile.Load(f.cfg.PeersFile.Path, f.cfg.Tables.PeerIDsHistorySize)
	if err != nil {
		return fmt.Errorf("p2ppool: peers file: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		meta, err := f.tab.peerMeta.unmarshal(r.Metadata)
		if err != nil {
			return fmt.Errorf("p2ppool: peers file %s: peer %v: peer_metadata: %w", f.cfg.PeersFile.Path, PeerID(r.PeerID), err)
		}
		pi := f.tab.newPeerInfo(PeerID(r.PeerID), r.Created, scoredMeta{meta, f.tab.peerMeta.score(meta)})
		pi.Trusted = r.Trusted
		pi.LastFailedConnection = pointAtOf(r.LastFailedConnection)
		pi.LastRejectedConnection = pointAtOf(r.LastRejectedConnection)
		pi.LastEstablishedConnection = pointAtOf(r.LastEstablishedConnection)
		pi.LastDisconnection = pointAtOf(r.LastDisconnection)
		for _, e := range r.Events {
			kind, ok := peerEventKinds[e.Kind]
			if !ok {
				continue // a kind from a newer octez: the record keeps no slot for it
			}
			pt := netip.AddrPort{}
			if e.HasPort {
				pt = netip.AddrPortFrom(e.Addr.Unmap(), e.Port)
			}
			pi.events.add(PeerEvent{Kind: kind, Time: e.Timestamp, Point: pt})
		}
		pi.unknown = r.Unknown
		// Under the lock although nothing else runs yet: the tables are
		// the pool lock's, which the lock check asserts.
		f.pool.Lock()
		f.tab.peers[pi.Peer] = pi
		if seen := pi.LastSeen().Point; seen.IsValid() {
			f.tab.registerPointLocked(seen)
		}
		f.pool.Unlock()
	}
	return nil
}

// save is Peers.Save.
func (f *peersFile) save() error {
	if f.cfg.PeersFile.Path == "" {
		return nil
	}
	// MarshalJSON runs on this goroutine: a Save it calls would recurse
	// without end.
	if g, ok := f.life.gs.self(); ok && g.saving > 0 {
		return fmt.Errorf("p2ppool: save peers from MarshalJSON: %w", ErrReentrant)
	}
	defer f.life.gs.track(poolGoroutine{}, true).untrack()
	recs, err := f.records()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := peersfile.Save(f.cfg.PeersFile.Path, recs); err != nil {
		return fmt.Errorf("p2ppool: save peers: %w", err)
	}
	return nil
}

// records snapshots the peer table as peers-file records.
func (f *peersFile) records() ([]peersfile.Record, error) {
	// A copy of each record, its history oldest first: encoding runs
	// outside the lock, since metadata marshalling is the application's
	// code.
	type snapshot struct {
		PeerInfo[any]
		events  []PeerEvent
		unknown []peersfile.Field
	}
	f.pool.Lock()
	infos := make([]snapshot, 0, len(f.tab.peers))
	for _, pi := range f.tab.peers {
		infos = append(infos, snapshot{pi.PeerInfo, pi.events.list(), pi.unknown})
	}
	f.pool.Unlock()
	slices.SortFunc(infos, func(a, b snapshot) int { return a.Created.Compare(b.Created) })
	recs := make([]peersfile.Record, 0, len(infos))
	var errs []error
	for _, pi := range infos {
		meta, err := f.tab.peerMeta.marshal(pi.Meta)
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %v: peer_metadata: %w", pi.Peer, err))
			continue
		}
		r := peersfile.Record{
			PeerID:                    pi.Peer,
			Created:                   pi.Created,
			Trusted:                   pi.Trusted,
			Metadata:                  meta,
			LastFailedConnection:      connPointOf(pi.LastFailedConnection),
			LastRejectedConnection:    connPointOf(pi.LastRejectedConnection),
			LastEstablishedConnection: connPointOf(pi.LastEstablishedConnection),
			LastDisconnection:         connPointOf(pi.LastDisconnection),
		}
		r.Unknown = pi.unknown
		for _, e := range pi.events {
			ev := peersfile.Event{Kind: peersfile.EventKind(e.Kind.String()), Timestamp: e.Time, Addr: netip.IPv6Unspecified()}
			if e.Point.IsValid() {
				ev.Addr, ev.Port, ev.HasPort = e.Point.Addr(), e.Point.Port(), true
			}
			r.Events = append(r.Events, ev)
		}
		recs = append(recs, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("p2ppool: save peers: %w", errors.Join(errs...))
	}
	return recs, nil
}
