package p2ppool

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Stats is a snapshot of the pool's internals, for monitoring, grouped
// as Config is: traffic, connections, tables, greylist, queues and
// budgets, messages refused, control budgets and dials.
type Stats struct {
	// Traffic is what the pool's connections carried since New.
	Traffic TrafficStats
	// Connections counts the connections and handshakes, now and since
	// New.
	Connections ConnectionStats
	// Tables are the sizes of the known tables (Config.Tables).
	Tables TableStats
	// Greylist is what the greylists hold (Config.Greylist).
	Greylist GreylistStats
	// Queues is what the connections' queues and the pool-wide budgets
	// hold (Config.Limits, Config.Budgets), and what was dropped for
	// want of room.
	Queues QueueStats
	// Messages counts the messages refused without ending in a queue.
	Messages MessageStats
	// Control counts the messages ignored over their budget
	// (Config.Control, Connection.Allow) and the peers cut for flooding.
	Control ControlStats
	// Dial counts the outgoing attempts and the points peers name
	// (Config.Dial).
	Dial DialStats
}

// TrafficStats is the traffic of all the pool's connections since New,
// past and present (Stats.Traffic).
type TrafficStats struct {
	// MsgsSent, MsgsRecv, BytesSent and BytesRecv are whole P2P messages
	// and their plaintext bytes (octez P2p_stat totals).
	MsgsSent, MsgsRecv   uint64
	BytesSent, BytesRecv uint64
	// Flow is the pool's wire traffic, handshakes, encryption and framing
	// included, and its current rates (octez global_stat).
	Flow FlowStat
}

// ConnectionStats counts connections and handshakes (Stats.Connections).
type ConnectionStats struct {
	// Established connections, handshakes past admission (Accepted) and
	// incoming handshakes in flight, now.
	Established, Accepted, IncomingHandshakes int
	// Refused counts incoming connections refused, by reason.
	Refused map[RefusalReason]uint64
	// Evicted counts established incoming connections ended to let in a
	// peer from a less represented subnet.
	Evicted uint64
	// Ended counts the connections ended since New, by reason: among
	// them those cut by Config.Timeouts.Idle (ReasonIdle) and
	// Config.Timeouts.Write (ReasonWriteTimeout).
	Ended map[DisconnectReason]uint64
}

// TableStats are the sizes of the known tables (Stats.Tables).
type TableStats struct {
	KnownPoints, KnownPeers int
}

// GreylistStats is what the greylists hold (Stats.Greylist).
type GreylistStats struct {
	// Addrs is the number of addresses in the greylist's display list
	// and Fill the fraction of the address filter in use; Peers the
	// number of greylisted peer ids.
	Addrs, Peers int
	Fill         float64
}

// QueueStats is what the connections' queues and the pool-wide budgets
// hold, and what was dropped for want of room (Stats.Queues).
type QueueStats struct {
	// AppQueued and AppQueuedBytes are the messages waiting in the
	// connections' incoming app queues and the bytes they are counted at
	// (with the messages being reassembled): each the larger of its wire
	// size and its Encoding's DecodedSize. OutQueuedBytes are the bytes
	// held by their outgoing queues.
	AppQueued, AppQueuedBytes, OutQueuedBytes int
	// IncomingBudgetHeld is the part of Config.Budgets.TotalIncomingQueueSize
	// in use, with what connections have read and not yet given back (up
	// to 16 KiB each while their queues are not empty) and what ended
	// connections left unread. UnreadDropped counts the messages ended
	// connections left unread that were dropped to make room for live
	// ones (see BudgetConfig.TotalIncomingQueueSize).
	IncomingBudgetHeld int64
	UnreadDropped      uint64
	// OutgoingBudgetHeld is the part of
	// Config.Budgets.TotalOutgoingQueueSize in use; OutgoingBudgetWaits
	// counts the Writes that waited for it and OutgoingBudgetDrops the
	// messages dropped for want of it (also in Dropped).
	OutgoingBudgetHeld                       int64
	OutgoingBudgetWaits, OutgoingBudgetDrops uint64
	// Dropped counts messages dropped because an outgoing queue or the
	// outgoing budget was full (WriteNow, WriteAll, Bootstrap and
	// Advertise).
	Dropped uint64
}

// MessageStats counts the messages refused without ending in a queue
// (Stats.Messages).
type MessageStats struct {
	// Unknown counts messages with undeclared tags dropped under
	// UnknownMessagesIgnore (Config.Wire.UnknownMessages).
	Unknown uint64
	// Oversized counts the messages refused for their size: a body over
	// its Encoding's MaxLength or, for an Encoding that sets none, over
	// Config.Budgets.MaxMessageSize; a size prefix over the largest of
	// those bounds is refused before anything is allocated. Each ends its
	// connection (ReasonProtocolError).
	Oversized uint64
}

// DialStats counts the outgoing attempts and the points peers name
// (Stats.Dial).
type DialStats struct {
	// Started counts the attempts that took a slot of the dial limiter,
	// InFlight those holding one now; Refused the swaps not made for want
	// of a slot or a token.
	Started, Refused uint64
	InFlight         int
	// LearnedNonRoutable counts the points peers named that were dropped
	// for their scope, LearnedTableFull those dropped because the
	// known-points table was full of points its GC may not remove.
	LearnedNonRoutable, LearnedTableFull uint64
	// SwapAcksIgnored counts the Swap_acks that answered no request of
	// ours (unsolicited, repeated or late).
	SwapAcksIgnored uint64
}

func (p *core) stats() Stats {
	p.mu.Lock()
	s := Stats{
		Traffic: TrafficStats{
			MsgsSent:  p.reg.closedStat.MsgsSent,
			MsgsRecv:  p.reg.closedStat.MsgsRecv,
			BytesSent: p.reg.closedStat.BytesSent,
			BytesRecv: p.reg.closedStat.BytesRecv,
			Flow:      FlowStat(p.sched.Stat()),
		},
		Connections: ConnectionStats{
			Established:        len(p.reg.conns),
			Accepted:           p.reg.accepted,
			IncomingHandshakes: len(p.adm.pending.all),
		},
		Tables: TableStats{KnownPoints: len(p.tab.points), KnownPeers: len(p.tab.peers)},
		Greylist: GreylistStats{
			Addrs: p.acl.addrs.Len(),
			Peers: p.acl.peers.Len(),
			Fill:  p.acl.addrs.FillRatio(),
		},
		Dial: DialStats{InFlight: p.dial.inFlight},
	}
	p.mu.Unlock()
	s.Queues.Dropped = p.count.dropped.Load()
	s.Connections.Evicted = p.count.evictions.Load()
	s.Messages.Unknown = p.count.unknown.Load()
	s.Queues.IncomingBudgetHeld = p.inBudget.held.Load()
	s.Queues.UnreadDropped = p.inBudget.unreadDropped.Load()
	s.Control = p.count.control.stats()
	s.Dial.Started, s.Dial.Refused = p.dial.started.Load(), p.dial.refused.Load()
	s.Dial.LearnedNonRoutable, s.Dial.LearnedTableFull = p.dial.nonRoutable.Load(), p.dial.tableFull.Load()
	s.Dial.SwapAcksIgnored = p.dial.acksIgnored.Load()
	s.Queues.OutgoingBudgetHeld = p.outBudget.held()
	s.Queues.OutgoingBudgetWaits = p.outBudget.waits.Load()
	s.Queues.OutgoingBudgetDrops = p.outBudget.drops.Load()
	s.Messages.Oversized = p.count.oversized.Load()
	s.Connections.Ended = make(map[DisconnectReason]uint64)
	for r := range numReasons {
		if n := p.count.ended[r].Load(); n > 0 {
			s.Connections.Ended[r] = n
		}
	}
	s.Connections.Refused = make(map[RefusalReason]uint64)
	for r := range numRefusals {
		if n := p.count.refused[r].Load(); n > 0 {
			s.Connections.Refused[r] = n
		}
	}
	for _, c := range p.reg.connections() {
		cs := c.stat()
		s.Traffic.MsgsSent += cs.MsgsSent
		s.Traffic.MsgsRecv += cs.MsgsRecv
		s.Traffic.BytesSent += cs.BytesSent
		s.Traffic.BytesRecv += cs.BytesRecv
		n, b := c.app.queued()
		s.Queues.AppQueued += n
		s.Queues.AppQueuedBytes += b
		_, ob := c.out.len()
		s.Queues.OutQueuedBytes += ob
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

// String formats the snapshot on one line, for logs, group by group.
func (s Stats) String() string {
	var b strings.Builder
	t, c, q := s.Traffic, s.Connections, s.Queues
	fmt.Fprintf(&b, "conns=%d accepted=%d handshakes=%d points=%d peers=%d", c.Established, c.Accepted, c.IncomingHandshakes, s.Tables.KnownPoints, s.Tables.KnownPeers)
	fmt.Fprintf(&b, " sent=%d/%dB recv=%d/%dB wire=%dB/%dB rate=%dB/s/%dB/s", t.MsgsSent, t.BytesSent, t.MsgsRecv, t.BytesRecv, t.Flow.TotalSent, t.Flow.TotalRecv, t.Flow.CurrentOutflow, t.Flow.CurrentInflow)
	fmt.Fprintf(&b, " queued=%d/%dB out=%dB budget=%dB dropped=%d unread-dropped=%d unknown=%d evicted=%d", q.AppQueued, q.AppQueuedBytes, q.OutQueuedBytes, q.IncomingBudgetHeld, q.Dropped, q.UnreadDropped, s.Messages.Unknown, c.Evicted)
	fmt.Fprintf(&b, " outbudget=%dB waits=%d drops=%d", q.OutgoingBudgetHeld, q.OutgoingBudgetWaits, q.OutgoingBudgetDrops)
	fmt.Fprintf(&b, " greylisted=%d addrs/%d peers", s.Greylist.Addrs, s.Greylist.Peers)
	if c := s.Control; c != (ControlStats{}) {
		fmt.Fprintf(&b, " ignored: bootstrap=%d advertise=%d swap_request=%d swap_ack=%d requests=%d floods=%d advertise_builds=%d",
			c.Bootstrap, c.Advertise, c.SwapRequest, c.SwapAck, c.Requests, c.Floods, c.AdvertiseBuilds)
	}
	d := s.Dial
	fmt.Fprintf(&b, " dials=%d inflight=%d refused=%d learned-dropped=%d/%d swap-acks-ignored=%d",
		d.Started, d.InFlight, d.Refused, d.LearnedNonRoutable, d.LearnedTableFull, d.SwapAcksIgnored)
	if len(c.Refused) > 0 {
		b.WriteString(" refused:")
		for _, r := range slices.Sorted(maps.Keys(c.Refused)) {
			fmt.Fprintf(&b, " %q=%d", r.String(), c.Refused[r])
		}
	}
	if s.Messages.Oversized > 0 {
		fmt.Fprintf(&b, " oversized=%d", s.Messages.Oversized)
	}
	if len(c.Ended) > 0 {
		b.WriteString(" ended:")
		for _, r := range slices.Sorted(maps.Keys(c.Ended)) {
			fmt.Fprintf(&b, " %q=%d", r.String(), c.Ended[r])
		}
	}
	return b.String()
}
