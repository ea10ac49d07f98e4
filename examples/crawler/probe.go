package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
)

// probeResult is what one attempt at a point learned.
type probeResult struct {
	reachable bool
	// retry: the attempt failed in a way a later one may not (refused,
	// timed out).
	retry      bool
	err        error
	peer       p2ppool.PeerID
	version    version
	advertised []netip.AddrPort
	nackPoints []netip.AddrPort
	head       *headInfo
}

// headInfo is a peer's current head: its level and hash.
type headInfo struct {
	level int32
	hash  tezos.BlockHash
}

type crawlConn = p2ppool.BasicConnection[tezos.Message]

// probe connects to pt with a pool of its own, so that the points the
// pool learns are exactly the ones this peer advertised. It asks for
// points and, when the chain is known, for the current branch and head,
// and waits -wait for the answers. The pool is closed before probe
// returns.
func (c *crawler) probe(ctx context.Context, pt netip.AddrPort) probeResult {
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(c.opts.chain), p2ppool.Config{
		Identity: c.id,
		// The crawler accepts any peer; the network checks our stamp.
		ProofOfWorkTarget: p2ppool.NoProofOfWork,
		Timeouts:          p2ppool.TimeoutConfig{Connection: c.opts.timeout, Authentication: c.opts.timeout},
		Maintenance:       p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
		// Messages of kinds the crawler does not declare are not a
		// reason to lose the peer before it answers.
		Wire:   p2ppool.WireConfig{UnknownMessages: p2ppool.UnknownMessagesIgnore},
		Dialer: c.opts.dialer,
		Logger: c.logger(pt),
	})
	if err != nil {
		return probeResult{err: err}
	}
	defer pool.Close()

	events := pool.Watch(ctx, 0)
	defer events.Close()
	conn, err := pool.Connect(ctx, pt)
	if err != nil {
		return failed(err)
	}
	// End the connection once what is queued has been sent, within a
	// second; runs before the pool's Close, which would cut it at once.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Disconnect(dctx, true)
		cancel()
	}()
	res := probeResult{reachable: true, peer: conn.Peer()}
	a := conn.Info().Announced
	res.version = version{ChainName: a.ChainName, DistributedDB: a.DistributedDB, P2P: a.P2P}

	waitCtx, cancel := context.WithTimeout(ctx, c.opts.wait)
	defer cancel()
	pool.BroadcastBootstrap()
	heads := make(chan headInfo, 1) // readHead sends at most once
	readerDone := make(chan struct{})
	if c.opts.chainID != nil {
		// An octez node answers heads only on a chain the peer
		// activated, which a Get_current_branch does (p2p_reader.ml
		// 256-262, 362-365); its Current_branch gives the head too.
		_ = conn.Write(waitCtx, tezos.GetCurrentBranch{ChainID: *c.opts.chainID})
		_ = conn.Write(waitCtx, tezos.GetCurrentHead{ChainID: *c.opts.chainID})
		go func() {
			defer close(readerDone)
			readHead(waitCtx, conn, *c.opts.chainID, heads)
		}()
	} else {
		close(readerDone)
	}

	// The Advertise, then the head, both within -wait: a peer that knows
	// no point sends no Advertise, one of another chain no head.
	for {
		e, err := events.Next(waitCtx)
		if err != nil || (e.Kind == p2ppool.EventAdvertiseReceived && e.Peer == res.peer) {
			break
		}
	}
	if c.opts.chainID != nil {
		select {
		case h := <-heads: // arrived while waiting for the Advertise
			res.head = &h
		default:
			select {
			case h := <-heads:
				res.head = &h
			case <-waitCtx.Done():
			}
		}
	}
	cancel()
	<-readerDone
	for q := range pool.Points().All() {
		if q != pt {
			res.advertised = append(res.advertised, q)
		}
	}
	return res
}

// readHead reads conn until a Current_branch or Current_head of chain
// arrives, and sends the head it gives.
func readHead(ctx context.Context, conn *crawlConn, chain tezos.ChainID, heads chan<- headInfo) {
	for {
		m, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var h *tezos.BlockHeader
		switch m := m.(type) {
		case tezos.CurrentBranch:
			if m.ChainID == chain {
				h = &m.Locator.CurrentHead
			}
		case tezos.CurrentHead:
			if m.ChainID == chain {
				h = &m.Header
			}
		}
		if h == nil {
			continue
		}
		hash, err := headHash(h)
		if err != nil {
			continue
		}
		heads <- headInfo{level: h.Shell.Level, hash: hash}
		return
	}
}

// failed describes a failed connection: a nack's alternative points are
// kept, refusals and timeouts may be retried.
func failed(err error) probeResult {
	res := probeResult{err: err}
	var rej *p2ppool.RejectedError
	if errors.As(err, &rej) {
		res.nackPoints = rej.Points
	}
	res.retry = errors.Is(err, p2ppool.ErrConnectionFailed) || errors.Is(err, p2ppool.ErrTimeout) ||
		errors.Is(err, p2ppool.ErrPendingConnection)
	return res
}

// headHash is the hash of a peer's head. A peer whose head is its
// genesis (level 0) gives octez's genesis header, whose hash is fixed by
// configuration and is not the hash of the header: the header names it
// as its own predecessor (octez lib_store/shared/block_repr.ml 67-73).
func headHash(h *tezos.BlockHeader) (tezos.BlockHash, error) {
	if h.Shell.Level == 0 {
		return h.Shell.Predecessor, nil
	}
	return h.Hash()
}

// logger is the Config.Logger of the probe of pt: -log-level and
// -log-format's, with the probed point on each line.
func (c *crawler) logger(pt netip.AddrPort) *slog.Logger {
	if c.opts.logger == nil {
		return nil
	}
	return c.opts.logger.With("probe", pt)
}
