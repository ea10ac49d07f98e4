package main

import (
	"context"
	"errors"
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
	headLevel  *int32
}

type (
	crawlPool = p2ppool.BasicPool[tezos.Message]
	crawlConn = p2ppool.BasicConnection[tezos.Message]
)

// probe connects to pt with a pool of its own, so that the points the
// pool learns are exactly the ones this peer advertised. It asks for
// points and, when the chain is known, for the current head, and waits
// -wait for the answers. The pool is closed before probe returns.
func (c *crawler) probe(ctx context.Context, pt netip.AddrPort) probeResult {
	pool, err := p2ppool.NewBasic(tezos.MessageConfig(c.opts.chain), p2ppool.Config{
		Identity: c.id,
		// The crawler accepts any peer; the network checks our stamp.
		ProofOfWorkTarget:     p2ppool.NoProofOfWork,
		ConnectionTimeout:     c.opts.timeout,
		AuthenticationTimeout: c.opts.timeout,
		MaintenanceIdleTime:   p2ppool.Disabled,
		// Messages of kinds the crawler does not declare are not a
		// reason to lose the peer before it answers.
		UnknownMessages: p2ppool.UnknownMessagesIgnore,
		Dialer:          c.opts.dialer,
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
	heads := make(chan int32, 1) // readHead sends at most once
	readerDone := make(chan struct{})
	if c.opts.chainID != nil {
		_ = conn.Write(waitCtx, tezos.GetCurrentHead{ChainID: *c.opts.chainID})
		go func() {
			defer close(readerDone)
			readHead(waitCtx, conn, heads)
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
		case l := <-heads: // arrived while waiting for the Advertise
			res.headLevel = &l
		default:
			select {
			case l := <-heads:
				res.headLevel = &l
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

// readHead reads conn until a Current_head arrives and sends its level.
func readHead(ctx context.Context, conn *crawlConn, heads chan<- int32) {
	for {
		m, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if h, ok := m.(tezos.CurrentHead); ok {
			heads <- h.Header.Shell.Level
			return
		}
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
