package p2ppool

import (
	"fmt"

	"github.com/p2ppool/p2ppool/internal/sched"
)

// Limits are the limits an operator may change while the pool runs, with
// one SetLimits call. Zero fields mean octez's defaults, as in Config.
type Limits struct {
	MinConnections, ExpectedConnections, MaxConnections int
	// Bytes per second; zero is unlimited. See Config.
	MaxDownloadSpeed, MaxUploadSpeed         int64
	MaxConnDownloadSpeed, MaxConnUploadSpeed int64
	// Queue sizes of connections established from now on.
	IncomingAppMessageQueueSize, OutgoingMessageQueueSize int
}

// Limits returns the limits in force.
func (p *Pool[Msg, PeerMeta, ConnMeta]) Limits() Limits {
	p.mu.Lock()
	defer p.mu.Unlock()
	return limitsOf(&p.cfg)
}

func limitsOf(c *Config) Limits {
	return Limits{
		MinConnections: c.MinConnections, ExpectedConnections: c.ExpectedConnections, MaxConnections: c.MaxConnections,
		MaxDownloadSpeed: c.MaxDownloadSpeed, MaxUploadSpeed: c.MaxUploadSpeed,
		MaxConnDownloadSpeed: c.MaxConnDownloadSpeed, MaxConnUploadSpeed: c.MaxConnUploadSpeed,
		IncomingAppMessageQueueSize: c.IncomingAppMessageQueueSize, OutgoingMessageQueueSize: c.OutgoingMessageQueueSize,
	}
}

// SetLimits changes the limits at run time, all at once. Lowering
// MaxConnections trims the excess through the maintenance (at once if it
// runs; with the maintenance off, new connections are refused until the
// count falls); bandwidth limits apply to every connection at once, and
// raising one wakes the connections waiting for budget; queue sizes apply
// to connections established afterwards. Invalid limits (min > expected >
// max, negative values) are refused and nothing changes.
func (p *Pool[Msg, PeerMeta, ConnMeta]) SetLimits(l Limits) error {
	p.mu.Lock()
	next := p.cfg
	next.MinConnections, next.ExpectedConnections, next.MaxConnections = l.MinConnections, l.ExpectedConnections, l.MaxConnections
	next.MaxDownloadSpeed, next.MaxUploadSpeed = l.MaxDownloadSpeed, l.MaxUploadSpeed
	next.MaxConnDownloadSpeed, next.MaxConnUploadSpeed = l.MaxConnDownloadSpeed, l.MaxConnUploadSpeed
	next.IncomingAppMessageQueueSize, next.OutgoingMessageQueueSize = l.IncomingAppMessageQueueSize, l.OutgoingMessageQueueSize
	if err := next.Validate(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	next = next.withDefaults()
	// Field by field: the other fields are read without the lock.
	p.cfg.MinConnections, p.cfg.ExpectedConnections, p.cfg.MaxConnections = next.MinConnections, next.ExpectedConnections, next.MaxConnections
	p.cfg.MaxDownloadSpeed, p.cfg.MaxUploadSpeed = next.MaxDownloadSpeed, next.MaxUploadSpeed
	p.cfg.MaxConnDownloadSpeed, p.cfg.MaxConnUploadSpeed = next.MaxConnDownloadSpeed, next.MaxConnUploadSpeed
	p.cfg.IncomingAppMessageQueueSize, p.cfg.OutgoingMessageQueueSize = next.IncomingAppMessageQueueSize, next.OutgoingMessageQueueSize
	p.mu.Unlock()
	if err := p.sched.SetLimits(sched.Limits{
		MaxInflow: next.MaxDownloadSpeed, MaxOutflow: next.MaxUploadSpeed,
		ConnMaxInflow: next.MaxConnDownloadSpeed, ConnMaxOutflow: next.MaxConnUploadSpeed,
	}); err != nil {
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	if p.maintenanceEnabled() {
		p.wakeMaintenance()
	}
	return nil
}
