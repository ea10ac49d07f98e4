package octeztest

import (
	"context"
	"time"

	"github.com/p2ppool/p2ppool/tezos"
)

// maxTimestampDrift is how far in the future a head may be (octez
// Clock_drift.max_timestamp_drift, lib_shell/clock_drift.ml 26).
const maxTimestampDrift = time.Second

// run is one connection's reader: octez's P2p_reader worker for it
// (on_launch 785-821, handle_msg 353-693, on_close 851-856).
func (p *Peer) run(c *conn) {
	id := c.Peer()
	ctx := c.Context() // ends with the connection
	p.mu.Lock()
	r := p.remotes[id]
	if r == nil {
		r = &remote{received: make(map[uint16]int)}
		p.remotes[id] = r
	}
	// A connection starts with no chain active (peer_active_chains,
	// 797).
	r.connected, r.active = true, make(map[tezos.ChainID]bool)
	p.conns[id] = c
	p.mu.Unlock()
	defer func() {
		// deactivate_once (710-714): the connection's chains go with it.
		p.mu.Lock()
		r.connected, r.active = false, make(map[tezos.ChainID]bool)
		if p.conns[id] == c {
			delete(p.conns, id)
		}
		p.mu.Unlock()
	}()

	// 806-820: a Get_current_branch for each chain served, right away
	// (P2p.send: waits for room in the queue).
	_ = c.Write(ctx, tezos.GetCurrentBranch{ChainID: p.chain.ID})

	th := make(throttle)
	for {
		m, err := c.Read(ctx)
		if err != nil {
			return
		}
		p.update(id, func(r *remote) { r.received[m.Tag()]++ })
		// 360: the throttle comes before the message is looked at. Past
		// its kind's limit the reader sleeps the cooldown, or until the
		// connection is lost (176-190).
		throttled := false
		if d := th.check(m.Tag(), time.Now()); d > 0 {
			throttled = true
			p.update(id, func(r *remote) { r.counters.Throttled++ })
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.Done():
				t.Stop()
				return
			}
		}
		p.handle(c, r, m, throttled)
	}
}

// handle is octez's handle_msg (353-693) for one message. r is c's
// remote; its fields are read and written under p.mu.
func (p *Peer) handle(c *conn, r *remote, m tezos.Message, throttled bool) {
	id := c.Peer()
	count := func(f func(*Counters)) { p.update(id, func(r *remote) { f(&r.counters) }) }
	// answer is P2p.try_send with update_responses: dropped if the
	// queue is full.
	answer := func(m tezos.Message) {
		if c.WriteNow(m) == nil {
			count(func(k *Counters) { k.Answers++ })
		}
	}
	// mayHandle is may_handle (256-262): f runs if the remote activated
	// chain, else the message is counted as for an inactive chain.
	mayHandle := func(chain tezos.ChainID, f func()) {
		p.mu.Lock()
		active := r.active[chain]
		if !active {
			r.counters.InactiveChain++
		}
		p.mu.Unlock()
		if active {
			f()
		}
	}
	// mayHandleGlobal is may_handle_global (266-269): f runs if the peer
	// serves chain.
	mayHandleGlobal := func(chain tezos.ChainID, f func()) {
		if chain == p.chain.ID {
			f()
		}
	}
	// activate is activate (342-349).
	activate := func(chain tezos.ChainID) { p.update(id, func(r *remote) { r.active[chain] = true }) }
	// greylist is the answer to a known invalid block: disconnect, then
	// greylist the peer (393-400, 454-461).
	greylist := func() {
		_ = c.Disconnect(context.Background(), false)
		_ = p.pool.ACL().GreylistPeer(id)
	}
	request := func() { count(func(k *Counters) { k.Requests++ }) }
	ch := p.chain

	switch m := m.(type) {
	case tezos.GetCurrentBranch: // 362-383
		request()
		mayHandleGlobal(m.ChainID, func() {
			activate(m.ChainID)
			answer(tezos.CurrentBranch{ChainID: m.ChainID, Locator: ch.locator(len(ch.Headers)-1, 0)})
		})
	case tezos.CurrentBranch: // 384-413
		mayHandle(m.ChainID, func() {
			head := m.Locator.CurrentHead
			hash, err := head.Hash()
			invalid := err == nil && p.invalid[hash]
			for _, h := range m.Locator.History {
				invalid = invalid || p.invalid[h]
			}
			switch {
			case invalid:
				greylist()
			case !notTooFarInFuture(head.Shell.Timestamp):
				count(func(k *Counters) { k.FutureBlock++ })
			default:
				l := m.Locator
				p.update(id, func(r *remote) { r.branch = &l })
			}
		})
	case tezos.Deactivate: // 414-419
		mayHandle(m.ChainID, func() {
			p.update(id, func(r *remote) { delete(r.active, m.ChainID) })
		})
	case tezos.GetCurrentHead: // 420-437
		mayHandle(m.ChainID, func() {
			request()
			// The peer has no mempool: what octez sends with
			// disable_mempool (429).
			answer(tezos.CurrentHead{ChainID: m.ChainID, Header: ch.Headers[len(ch.Headers)-1],
				Mempool: tezos.Mempool{KnownValid: []tezos.OperationHash{}, Pending: []tezos.OperationHash{}}})
		})
	case tezos.CurrentHead: // 438-473
		mayHandle(m.ChainID, func() {
			hash, err := m.Header.Hash()
			invalid := err == nil && p.invalid[hash]
			// 444-452: a mempool from a peer we told we have none.
			nonEmpty := len(m.Mempool.KnownValid) > 0 || len(m.Mempool.Pending) > 0
			invalid = invalid || (c.Info().LocalMeta.DisableMempool && nonEmpty)
			switch {
			case invalid:
				greylist()
			case !notTooFarInFuture(m.Header.Shell.Timestamp):
				count(func(k *Counters) { k.FutureBlock++ })
			default:
				h := m.Header
				p.update(id, func(r *remote) { r.head = &h })
			}
		})
	case tezos.GetBlockHeaders: // 474-489
		request()
		for _, h := range m.Hashes {
			i, ok := ch.Find(h)
			switch {
			case !ok:
				count(func(k *Counters) { k.Unadvertised++ })
			case p.lies&LieSilent != 0:
			default:
				answer(tezos.BlockHeaderMessage{Header: p.lieHeader(ch.Headers[i])})
			}
		}
	case tezos.GetOperations: // 507-525
		// octez serves operations from its distributed DB's table of
		// recent ones (read_operation, 283-292), not from blocks; this
		// peer has none.
		request()
		for range m.Hashes {
			count(func(k *Counters) { k.Unadvertised++ })
		}
	case tezos.GetProtocols: // 560-579
		request()
		if throttled {
			count(func(k *Counters) { k.Dropped++ }) // 564
			return
		}
		for range m.Hashes { // the peer stores no protocol (570-571)
			count(func(k *Counters) { k.Unadvertised++ })
		}
	case tezos.GetOperationsForBlocks: // 592-606
		request()
		for _, bp := range m.Requests {
			i, ok := ch.Find(bp.Block)
			// octez's operations_path has no pass out of the block's
			// range: such a request is not answered here.
			if !ok || bp.Pass < 0 || int(bp.Pass) >= len(ch.Operations[i]) || p.lies&LieSilent != 0 {
				continue
			}
			answer(p.operationsFor(i, bp))
		}
	case tezos.GetCheckpoint: // 624-639
		request()
		mayHandleGlobal(m.ChainID, func() {
			answer(tezos.Checkpoint{ChainID: m.ChainID, Header: ch.Headers[ch.Checkpoint]})
		})
	case tezos.GetProtocolBranch: // 646-666
		request()
		mayHandleGlobal(m.ChainID, func() {
			activate(m.ChainID) // 649: before the locator, found or not
			if l, ok := ch.protocolLocator(m.ProtoLevel); ok {
				answer(tezos.ProtocolBranch{ChainID: m.ChainID, ProtoLevel: m.ProtoLevel, Locator: l})
			}
		})
	case tezos.GetPredecessorHeader: // 673-687
		request()
		i, ok := ch.Find(m.Block)
		// read_predecessor_header (316-327): the block Offset below;
		// none for a negative offset or past genesis.
		j := i - int(m.Offset)
		switch {
		case !ok || m.Offset < 0 || j < 0:
			count(func(k *Counters) { k.Unadvertised++ }) // 680
		case p.lies&LieSilent != 0:
		default:
			answer(tezos.PredecessorHeader{Block: m.Block, Offset: m.Offset, Header: p.lieHeader(ch.Headers[j])})
		}
	case tezos.BlockHeaderMessage, tezos.OperationMessage, tezos.OperationsForBlocks:
		// 490-506, 526-559, 607-623: the peer requests nothing, so no
		// answer is pending.
		count(func(k *Counters) { k.UnexpectedResponse++ })
	case tezos.ProtocolMessage, tezos.Checkpoint, tezos.ProtocolBranch, tezos.PredecessorHeader:
		// 580-591, 640-645, 667-672, 688-693: counted, nothing else.
	}
}

// notTooFarInFuture is Clock_drift.is_not_too_far_in_the_future
// (clock_drift.ml 34-35): at most a second ahead of now.
func notTooFarInFuture(ts int64) bool {
	return time.Now().Add(maxTimestampDrift).Unix() >= ts
}

// lieHeader is h as the peer sends it: under LieBadHash, with its
// protocol data altered.
func (p *Peer) lieHeader(h tezos.BlockHeader) tezos.BlockHeader {
	if p.lies&LieBadHash != 0 {
		h.ProtocolData = append(append([]byte(nil), h.ProtocolData...), 0x4c)
	}
	return h
}

// operationsFor is the Operations_for_blocks answer for pass bp.Pass of
// block i, with its path (Store.Block.operations_path, 600); under
// LieBadOperations one operation is altered or added.
func (p *Peer) operationsFor(i int, bp tezos.BlockPass) tezos.OperationsForBlocks {
	lists := make([]tezos.OperationListHash, len(p.chain.Operations[i]))
	for k, ops := range p.chain.Operations[i] {
		hs := make([]tezos.OperationHash, len(ops))
		for n := range ops {
			hs[n] = ops[n].Hash()
		}
		lists[k] = tezos.OperationListHashOf(hs)
	}
	ops := append([]tezos.Operation(nil), p.chain.Operations[i][bp.Pass]...)
	if p.lies&LieBadOperations != 0 {
		if len(ops) == 0 {
			ops = append(ops, tezos.Operation{Branch: p.chain.Hashes[i], Data: []byte("octeztest lie")})
		} else {
			ops[0].Data = append(append([]byte(nil), ops[0].Data...), 0x4c)
		}
	}
	return tezos.OperationsForBlocks{BlockPass: bp, Path: tezos.OperationsPathOf(lists, int(bp.Pass)), Operations: ops}
}

// protocolLocator is Store.Chain.compute_protocol_locator for
// protoLevel: the branch from the last block of that protocol level down
// to its first, or false if no block has it.
func (c *Chain) protocolLocator(protoLevel uint8) (tezos.BlockLocator, bool) {
	top, bottom := -1, -1
	for i, h := range c.Headers {
		if h.Shell.Proto == protoLevel {
			if bottom < 0 {
				bottom = i
			}
			top = i
		}
	}
	if top < 0 {
		return tezos.BlockLocator{}, false
	}
	return c.locator(top, bottom), true
}
