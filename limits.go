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

func limitsOf(c *Config) Limits {
	return Limits{
		MinConnections: c.MinConnections, ExpectedConnections: c.ExpectedConnections, MaxConnections: c.MaxConnections,
		MaxDownloadSpeed: c.MaxDownloadSpeed, MaxUploadSpeed: c.MaxUploadSpeed,
		MaxConnDownloadSpeed: c.MaxConnDownloadSpeed, MaxConnUploadSpeed: c.MaxConnUploadSpeed,
		IncomingAppMessageQueueSize: c.IncomingAppMessageQueueSize, OutgoingMessageQueueSize: c.OutgoingMessageQueueSize,
	}
}

// apply returns c with the limits l.
func (l Limits) apply(c Config) Config {
	c.MinConnections, c.ExpectedConnections, c.MaxConnections = l.MinConnections, l.ExpectedConnections, l.MaxConnections
	c.MaxDownloadSpeed, c.MaxUploadSpeed = l.MaxDownloadSpeed, l.MaxUploadSpeed
	c.MaxConnDownloadSpeed, c.MaxConnUploadSpeed = l.MaxConnDownloadSpeed, l.MaxConnUploadSpeed
	c.IncomingAppMessageQueueSize, c.OutgoingMessageQueueSize = l.IncomingAppMessageQueueSize, l.OutgoingMessageQueueSize
	return c
}

// setLimits is Pool.SetLimits.
func (p *core) setLimits(l Limits) error {
	next := l.apply(p.cfg) // p.cfg is immutable: read without the lock
	if err := next.Validate(); err != nil {
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	l = limitsOf(new(next.withDefaults()))
	p.mu.Lock()
	p.limits = l
	p.mu.Unlock()
	if err := p.sched.SetLimits(sched.Limits{
		MaxInflow: l.MaxDownloadSpeed, MaxOutflow: l.MaxUploadSpeed,
		ConnMaxInflow: l.MaxConnDownloadSpeed, ConnMaxOutflow: l.MaxConnUploadSpeed,
	}); err != nil {
		return fmt.Errorf("p2ppool: set limits: %w", err)
	}
	if maintains(&p.cfg) {
		p.maint.wake()
	}
	return nil
}
