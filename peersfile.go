package p2ppool

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"

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

// loadPeers fills the peer table from the peers file (octez: peers are
// inserted without GC or events, and the points they were last seen at
// become known). p.mu must not be held; New calls it before the pool is
// shared.
func (p *core) loadPeers() error {
	if p.cfg.PeersFile.Path == "" {
		return nil
	}
	recs, err := peersfile.Load(p.cfg.PeersFile.Path, p.cfg.Tables.PeerIDsHistorySize)
	if err != nil {
		return fmt.Errorf("p2ppool: peers file: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		meta, err := p.peerMeta.unmarshal(r.Metadata)
		if err != nil {
			return fmt.Errorf("p2ppool: peers file %s: peer %v: peer_metadata: %w", p.cfg.PeersFile.Path, PeerID(r.PeerID), err)
		}
		pi := p.newPeerInfo(PeerID(r.PeerID), r.Created, scoredMeta{meta, p.peerMeta.score(meta)})
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
		p.peers[pi.Peer] = pi
		if seen := pi.LastSeen().Point; seen.IsValid() {
			p.registerPointLocked(seen)
		}
	}
	return nil
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

// savePeers is Peers.Save.
func (p *core) savePeers() error {
	if p.cfg.PeersFile.Path == "" {
		return nil
	}
	// MarshalJSON runs on this goroutine: a Save it calls would recurse
	// without end.
	if g, ok := p.gs.self(); ok && g.saving > 0 {
		return fmt.Errorf("p2ppool: save peers from MarshalJSON: %w", ErrReentrant)
	}
	defer p.gs.track(poolGoroutine{}, true)()
	recs, err := p.peerRecords()
	if err != nil {
		return err
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if err := peersfile.Save(p.cfg.PeersFile.Path, recs); err != nil {
		return fmt.Errorf("p2ppool: save peers: %w", err)
	}
	return nil
}

// peerRecords snapshots the peer table as peers-file records.
func (p *core) peerRecords() ([]peersfile.Record, error) {
	// A copy of each record, its history oldest first: encoding runs
	// outside the lock, since metadata marshalling is the application's
	// code.
	type snapshot struct {
		PeerInfo[any]
		events  []PeerEvent
		unknown []peersfile.Field
	}
	p.mu.Lock()
	infos := make([]snapshot, 0, len(p.peers))
	for _, pi := range p.peers {
		infos = append(infos, snapshot{pi.PeerInfo, pi.events.list(), pi.unknown})
	}
	p.mu.Unlock()
	slices.SortFunc(infos, func(a, b snapshot) int { return a.Created.Compare(b.Created) })
	recs := make([]peersfile.Record, 0, len(infos))
	var errs []error
	for _, pi := range infos {
		meta, err := p.peerMeta.marshal(pi.Meta)
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
