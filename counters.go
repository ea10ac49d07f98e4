package p2ppool

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
)

// counters are what Stats counts outside the tables: atomics, updated by
// whichever goroutine sees the event (readers, writers, handshakes), under
// no lock.
type counters struct {
	// Immutable after newCore.
	metrics Metrics
	log     *slog.Logger

	// dropped counts messages dropped on full outgoing queues.
	dropped atomic.Uint64
	// unknown counts messages of undeclared tags dropped
	// (UnknownMessagesIgnore).
	unknown atomic.Uint64
	// evictions counts connections evicted for a newcomer.
	evictions atomic.Uint64
	// ended counts the connections ended, by reason (Stats.Connections.Ended);
	// oversized the messages refused for a size over the bound
	// (Stats.Messages.Oversized).
	ended     [numReasons]atomic.Uint64
	oversized atomic.Uint64
	// refused counts inbound connections refused, by reason.
	refused [numRefusals]atomic.Uint64
	// control counts what the control budgets refused (control.go).
	control controlCounters
}

// refuse counts an incoming connection from remote refused for r and
// logs it at Debug (a peer can make as many as it likes) with the remote
// address and the reason, and err when it says more than the reason.
func (n *counters) refuse(remote netip.AddrPort, r RefusalReason, err error) {
	n.refused[r].Add(1)
	n.metrics.ConnRefused(r)
	if err != nil {
		n.log.Debug("incoming connection refused", "remote", remote, "reason", r.String(), "err", err)
	} else {
		n.log.Debug("incoming connection refused", "remote", remote, "reason", r.String())
	}
}

// handshakeFailed reports a failed establish to the metrics when the
// error is a handshake's (not, say, ErrPoolClosed).
func (n *counters) handshakeFailed(err error) {
	var he *HandshakeError
	if errors.As(err, &he) {
		n.metrics.HandshakeFailed(he.Stage, err)
	}
}
