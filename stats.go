package p2ppool

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Stats is a snapshot of the pool's internals, for monitoring.
type Stats struct {
	// MsgsSent, MsgsRecv, BytesSent and BytesRecv sum the traffic of all
	// the pool's connections since New, past and present (octez P2p_stat
	// totals): whole P2P messages and their plaintext bytes.
	MsgsSent, MsgsRecv   uint64
	BytesSent, BytesRecv uint64
	// Flow is the pool's wire traffic since New, handshakes, encryption
	// and framing included, and its current rates (octez global_stat).
	Flow FlowStat
	// Connections established, handshakes past admission (Accepted) and
	// incoming handshakes in flight.
	Connections, Accepted, IncomingHandshakes int
	// KnownPoints and KnownPeers are the sizes of the known tables.
	KnownPoints, KnownPeers int
	// Dropped counts messages dropped because an outgoing queue was full
	// (WriteNow, WriteAll, Bootstrap and Advertise).
	Dropped uint64
	// Refused counts incoming connections refused, by reason.
	Refused map[RefusalReason]uint64
	// UnknownMessages counts messages with undeclared tags dropped under
	// UnknownMessagesIgnore.
	UnknownMessages uint64
	// Evicted counts established incoming connections ended to let in a
	// peer from a less represented subnet.
	Evicted uint64
	// GreylistedAddrs is the number of addresses in the greylist's display
	// list and GreylistFill the fraction of the address filter in use;
	// GreylistedPeers the number of greylisted peer ids.
	GreylistedAddrs, GreylistedPeers int
	GreylistFill                     float64
	// AppQueued and AppQueuedBytes are the messages waiting in the
	// connections' incoming app queues and the bytes they are counted at
	// (with the messages being reassembled): each the larger of its wire
	// size and its Encoding's DecodedSize. OutQueuedBytes are the bytes
	// held by their outgoing queues.
	AppQueued, AppQueuedBytes, OutQueuedBytes int
	// IncomingBudgetHeld is the part of Config.TotalIncomingQueueSize in
	// use.
	IncomingBudgetHeld int64
	// Control counts the messages ignored over their budget
	// (Config.Control, Connection.Allow) and the peers cut for flooding.
	Control ControlStats

	// Outgoing attempts and the points peers name (Config.Dial).
	// DialsStarted counts the attempts that took a slot of the dial
	// limiter, DialsInFlight those holding one now; DialsRefused the
	// swaps not made for want of a slot or a token. LearnedNonRoutable
	// counts the points peers named that were dropped for their scope,
	// LearnedTableFull those dropped because the known-points table was
	// full of points its GC may not remove; SwapAcksIgnored the
	// Swap_acks that answered no request of ours (unsolicited, repeated
	// or late).
	DialsStarted, DialsRefused           uint64
	DialsInFlight                        int
	LearnedNonRoutable, LearnedTableFull uint64
	SwapAcksIgnored                      uint64
	// OutgoingBudgetHeld is the part of Config.TotalOutgoingQueueSize in
	// use; OutgoingBudgetWaits counts the Writes that waited for it and
	// OutgoingBudgetDrops the messages dropped for want of it (also in
	// Dropped).
	OutgoingBudgetHeld                       int64
	OutgoingBudgetWaits, OutgoingBudgetDrops uint64
	// Ended counts the connections ended since New, by reason: among
	// them those cut by Config.IdleTimeout (ReasonIdle) and
	// Config.WriteTimeout (ReasonWriteTimeout).
	Ended map[DisconnectReason]uint64
	// OversizedMessages counts the messages refused for their size: a
	// body over its Encoding's MaxLength or, for an Encoding that sets
	// none, over Config.MaxMessageSize; a size prefix over the largest of
	// those bounds is refused before anything is allocated. Each ends its
	// connection (ReasonProtocolError).
	OversizedMessages uint64
}

func (p *core) stats() Stats {
	p.mu.Lock()
	s := Stats{
		MsgsSent:           p.reg.closedStat.MsgsSent,
		MsgsRecv:           p.reg.closedStat.MsgsRecv,
		BytesSent:          p.reg.closedStat.BytesSent,
		BytesRecv:          p.reg.closedStat.BytesRecv,
		Flow:               FlowStat(p.sched.Stat()),
		Connections:        len(p.reg.conns),
		Accepted:           p.reg.accepted,
		IncomingHandshakes: len(p.adm.pending.all),
		KnownPoints:        len(p.tab.points),
		KnownPeers:         len(p.tab.peers),
		GreylistedAddrs:    p.acl.addrs.Len(),
		GreylistedPeers:    p.acl.peers.Len(),
		GreylistFill:       p.acl.addrs.FillRatio(),
		DialsInFlight:      p.dial.inFlight,
	}
	p.mu.Unlock()
	s.Dropped = p.count.dropped.Load()
	s.Evicted = p.count.evictions.Load()
	s.UnknownMessages = p.count.unknown.Load()
	s.IncomingBudgetHeld = p.inBudget.held.Load()
	s.Control = p.count.control.stats()
	s.DialsStarted, s.DialsRefused = p.dial.started.Load(), p.dial.refused.Load()
	s.LearnedNonRoutable, s.LearnedTableFull = p.dial.nonRoutable.Load(), p.dial.tableFull.Load()
	s.SwapAcksIgnored = p.dial.acksIgnored.Load()
	s.OutgoingBudgetHeld = p.outBudget.held()
	s.OutgoingBudgetWaits = p.outBudget.waits.Load()
	s.OutgoingBudgetDrops = p.outBudget.drops.Load()
	s.OversizedMessages = p.count.oversized.Load()
	s.Ended = make(map[DisconnectReason]uint64)
	for r := range numReasons {
		if n := p.count.ended[r].Load(); n > 0 {
			s.Ended[r] = n
		}
	}
	s.Refused = make(map[RefusalReason]uint64)
	for r := range numRefusals {
		if n := p.count.refused[r].Load(); n > 0 {
			s.Refused[r] = n
		}
	}
	for _, c := range p.reg.connections() {
		cs := c.stat()
		s.MsgsSent += cs.MsgsSent
		s.MsgsRecv += cs.MsgsRecv
		s.BytesSent += cs.BytesSent
		s.BytesRecv += cs.BytesRecv
		n, b := c.app.queued()
		s.AppQueued += n
		s.AppQueuedBytes += b
		_, ob := c.out.len()
		s.OutQueuedBytes += ob
	}
	return s
}

// FlowStat is octez's P2p_stat: the bytes on the wire, encryption and
// framing included, and the current rates (bytes per second, a moving
// average updated every second).
type FlowStat struct {
	TotalSent, TotalRecv          int64
	CurrentInflow, CurrentOutflow int
}

// String formats the snapshot on one line, for logs.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "conns=%d accepted=%d handshakes=%d points=%d peers=%d", s.Connections, s.Accepted, s.IncomingHandshakes, s.KnownPoints, s.KnownPeers)
	fmt.Fprintf(&b, " sent=%d/%dB recv=%d/%dB wire=%dB/%dB rate=%dB/s/%dB/s", s.MsgsSent, s.BytesSent, s.MsgsRecv, s.BytesRecv, s.Flow.TotalSent, s.Flow.TotalRecv, s.Flow.CurrentOutflow, s.Flow.CurrentInflow)
	fmt.Fprintf(&b, " queued=%d/%dB out=%dB budget=%dB dropped=%d unknown=%d evicted=%d", s.AppQueued, s.AppQueuedBytes, s.OutQueuedBytes, s.IncomingBudgetHeld, s.Dropped, s.UnknownMessages, s.Evicted)
	fmt.Fprintf(&b, " outbudget=%dB waits=%d drops=%d", s.OutgoingBudgetHeld, s.OutgoingBudgetWaits, s.OutgoingBudgetDrops)
	fmt.Fprintf(&b, " greylisted=%d addrs/%d peers", s.GreylistedAddrs, s.GreylistedPeers)
	if c := s.Control; c != (ControlStats{}) {
		fmt.Fprintf(&b, " ignored: bootstrap=%d advertise=%d swap_request=%d swap_ack=%d requests=%d floods=%d advertise_builds=%d",
			c.Bootstrap, c.Advertise, c.SwapRequest, c.SwapAck, c.Requests, c.Floods, c.AdvertiseBuilds)
	}
	fmt.Fprintf(&b, " dials=%d inflight=%d refused=%d learned-dropped=%d/%d swap-acks-ignored=%d",
		s.DialsStarted, s.DialsInFlight, s.DialsRefused, s.LearnedNonRoutable, s.LearnedTableFull, s.SwapAcksIgnored)
	if len(s.Refused) > 0 {
		reasons := slices.Sorted(maps.Keys(s.Refused))
		b.WriteString(" refused:")
		for _, r := range reasons {
			fmt.Fprintf(&b, " %q=%d", r.String(), s.Refused[r])
		}
	}
	if s.OversizedMessages > 0 {
		fmt.Fprintf(&b, " oversized=%d", s.OversizedMessages)
	}
	if len(s.Ended) > 0 {
		b.WriteString(" ended:")
		for _, r := range slices.Sorted(maps.Keys(s.Ended)) {
			fmt.Fprintf(&b, " %q=%d", r.String(), s.Ended[r])
		}
	}
	return b.String()
}
