package p2ppool

import (
	"errors"
	"fmt"

	"github.com/p2ppool/p2ppool/internal/sched"
)

// Limits bound the connections, their speed and their queues
// (Config.Limits). They are the settings an operator may change while the
// pool runs, with one Pool.SetLimits call; Pool.Config shows those in
// force. A zero field means its default, as everywhere in Config.
type Limits struct {
	// MinConnections, ExpectedConnections and MaxConnections bound the
	// number of connections (octez min/expected/max_connections). If
	// zero, 10, 50 and 100.
	MinConnections      int
	ExpectedConnections int
	MaxConnections      int
	// MaxDownloadSpeed and MaxUploadSpeed cap, in bytes per second, the
	// pool's total inflow and outflow, shared fairly between connections
	// (octez max_download_speed / max_upload_speed, which are KiB/s:
	// multiply by 1024). If zero, the default, which is unlimited, as in
	// octez; int64(Disabled) is unlimited too.
	MaxDownloadSpeed int64
	MaxUploadSpeed   int64
	// MaxConnDownloadSpeed and MaxConnUploadSpeed cap each connection, in
	// bytes per second (octez has no such cap). If zero, unlimited;
	// int64(Disabled) is unlimited too.
	MaxConnDownloadSpeed int64
	MaxConnUploadSpeed   int64
	// IncomingAppMessageQueueSize is the size, in messages, of the first
	// of the two stages in which a connection's decoded messages wait for
	// Read, as in octez: its application pipe
	// (incoming_app_message_queue_size), and behind it its socket reader
	// pipe, bounded in bytes (IncomingMessageQueueSize), where each
	// message past the first IncomingAppMessageQueueSize counts 120 bytes
	// more than its own. When both are full the connection's reader stops
	// reading the socket, so TCP pushes back on the peer; nothing is
	// dropped. Besides the queue, the reader holds at most 256 messages
	// (64 KiB of them) that it has decoded from what arrived and queues
	// together. Connection.ReadBatch and Pool.ReadBatch take up to this
	// many at once. If zero, 10. A change applies to the connections
	// established from then on.
	IncomingAppMessageQueueSize int
	// IncomingMessageQueueSize bounds, in bytes, what one connection
	// holds of incoming messages: those queued for Read plus the one being
	// reassembled (octez incoming_message_queue_size, the bytes between
	// its socket reader and its connection worker), each message past the
	// first IncomingAppMessageQueueSize counted with 120 bytes more (octez
	// counts a queued message as its size plus 11 words and the pipe's
	// overhead, p2p_socket.ml). Unlike octez the bound covers the first
	// stage's bytes too, so a connection never holds more than it. A
	// message counts as the larger of its wire size and what its decoded
	// form may hold (Encoding.DecodedSize), so a message that decodes to
	// more than it weighs on the wire is budgeted at what it costs. The
	// reader reserves that for a message still arriving as soon as its
	// size prefix and tag are in, before reading and decoding the rest
	// (for one that arrived whole, as it queues it) and, when the bound is
	// reached, stops reading until Read makes room, so TCP pushes back on
	// the peer; nothing is dropped. A message larger than the bound is
	// still taken into an empty queue. Budgets.TotalIncomingQueueSize
	// bounds the sum over the pool. If zero, 8 MiB. A change applies to
	// the connections established from then on.
	IncomingMessageQueueSize int
	// OutgoingMessageQueueSize bounds, in bytes held, each connection's
	// outgoing queue (octez outgoing_message_queue_size): encoded
	// messages, small ones packed into buffers of 4 KiB (64 KiB once a run
	// of them fills one) that count whole however little they hold. When
	// it is full, Write blocks and WriteNow and WriteAll drop; a single
	// message larger than the bound is still accepted into an empty queue.
	// Budgets.TotalOutgoingQueueSize bounds the sum over the pool. If
	// zero, 8 MiB. A change applies to the connections established from
	// then on.
	OutgoingMessageQueueSize int
}

func (l Limits) withDefaults() Limits {
	setDefault(&l.MinConnections, DefaultMinConnections)
	setDefault(&l.ExpectedConnections, DefaultExpectedConnections)
	setDefault(&l.MaxConnections, DefaultMaxConnections)
	setDefault(&l.IncomingAppMessageQueueSize, DefaultIncomingAppMessageQueueSize)
	setDefault(&l.IncomingMessageQueueSize, DefaultIncomingMessageQueueSize)
	setDefault(&l.OutgoingMessageQueueSize, DefaultOutgoingMessageQueueSize)
	return l
}

func (l Limits) validate(bad func(format string, args ...any)) {
	ok := nonNegative(bad, "Limits.MinConnections", l.MinConnections)
	ok = nonNegative(bad, "Limits.ExpectedConnections", l.ExpectedConnections) && ok
	ok = nonNegative(bad, "Limits.MaxConnections", l.MaxConnections) && ok
	if r := l.withDefaults(); ok && !(r.MinConnections <= r.ExpectedConnections && r.ExpectedConnections <= r.MaxConnections) {
		bad("Limits need MinConnections %d <= ExpectedConnections %d <= MaxConnections %d", r.MinConnections, r.ExpectedConnections, r.MaxConnections)
	}
	orDisabled(bad, "Limits.MaxDownloadSpeed", l.MaxDownloadSpeed)
	orDisabled(bad, "Limits.MaxUploadSpeed", l.MaxUploadSpeed)
	orDisabled(bad, "Limits.MaxConnDownloadSpeed", l.MaxConnDownloadSpeed)
	orDisabled(bad, "Limits.MaxConnUploadSpeed", l.MaxConnUploadSpeed)
	nonNegative(bad, "Limits.IncomingAppMessageQueueSize", l.IncomingAppMessageQueueSize)
	nonNegative(bad, "Limits.IncomingMessageQueueSize", l.IncomingMessageQueueSize)
	nonNegative(bad, "Limits.OutgoingMessageQueueSize", l.OutgoingMessageQueueSize)
}

// sched returns the bandwidth caps of l for the scheduler, where zero is
// unlimited (Disabled is unlimited too).
func (l Limits) sched() sched.Limits {
	unlimited := func(v int64) int64 { return max(v, 0) }
	return sched.Limits{
		MaxInflow: unlimited(l.MaxDownloadSpeed), MaxOutflow: unlimited(l.MaxUploadSpeed),
		ConnMaxInflow: unlimited(l.MaxConnDownloadSpeed), ConnMaxOutflow: unlimited(l.MaxConnUploadSpeed),
	}
}

// setLimits is Pool.SetLimits.
func (p *core) setLimits(l Limits) error {
	var errs []error
	l.validate(func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	l = l.withDefaults()
	p.mu.Lock()
	p.limits = l
	p.mu.Unlock()
	if err := p.sched.SetLimits(l.sched()); err != nil {
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	if maintains(&p.cfg) {
		p.maint.wake()
	}
	return nil
}
