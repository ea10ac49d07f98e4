package p2ppool

// PoolStat sums the traffic of all the pool's connections, past and
// present (octez P2p_stat totals): whole P2P messages and their plaintext
// bytes.
type PoolStat struct {
	MsgsSent, MsgsRecv   uint64
	BytesSent, BytesRecv uint64
}

// Stat returns the pool's traffic totals since New.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Stat() PoolStat {
	p.mu.Lock()
	s := p.closedStat
	conns := make([]*Connection[Msg, PeerMeta, ConnMeta], 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		cs := c.Stat()
		s.MsgsSent += cs.MsgsSent
		s.MsgsRecv += cs.MsgsRecv
		s.BytesSent += cs.BytesSent
		s.BytesRecv += cs.BytesRecv
	}
	return s
}

// Stats is a snapshot of the pool's internals, for monitoring.
type Stats struct {
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
	// connections' incoming app queues and the wire bytes they hold
	// (with the messages being reassembled); OutQueuedBytes the bytes in
	// their outgoing queues.
	AppQueued, AppQueuedBytes, OutQueuedBytes int
	// IncomingBudgetHeld is the part of Config.TotalIncomingQueueSize in
	// use.
	IncomingBudgetHeld int64
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Stats() Stats {
	p.mu.Lock()
	s := Stats{
		Connections:        len(p.conns),
		Accepted:           p.accepted,
		IncomingHandshakes: len(p.pending.all),
		KnownPoints:        len(p.points),
		KnownPeers:         len(p.peers),
		GreylistedAddrs:    p.acl.addrs.Len(),
		GreylistedPeers:    p.acl.peers.Len(),
		GreylistFill:       p.acl.addrs.FillRatio(),
	}
	p.mu.Unlock()
	s.Dropped = p.dropped.Load()
	s.Evicted = p.evictions.Load()
	s.UnknownMessages = p.unknown.Load()
	s.IncomingBudgetHeld = p.inBudget.held.Load()
	s.Refused = make(map[RefusalReason]uint64)
	for r := range numRefusals {
		if n := p.refused[r].Load(); n > 0 {
			s.Refused[r] = n
		}
	}
	for _, c := range p.Connections() {
		n, b := c.in.len()
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

// FlowStat returns the pool's wire traffic since New, handshakes included
// (octez global_stat).
func (p *Pool[Msg, PeerMeta, ConnMeta]) FlowStat() FlowStat {
	return FlowStat(p.sched.Stat())
}
