package p2ppool

import (
	"fmt"
	"time"
)

// Metrics receives the pool's meaningful events, for export to a
// monitoring system (push style; Stats and Stat are the pull style). Set
// it as Config.Metrics; the default, NopMetrics, does nothing. The core
// imports no metrics library: adapters live elsewhere, such as the
// Prometheus one in the nested module
// github.com/p2ppool/p2ppool/metrics/prometheus:
//
//	m, err := p2ppoolprom.New(prometheus.DefaultRegisterer, "tezos")
//	if err != nil { ... }
//	pool, err := p2ppool.NewBasic(msgs, p2ppool.Config{Identity: id, Metrics: m})
//
// The methods are called from the connections' goroutines, concurrently
// and without the pool's lock held; they must be safe for concurrent use
// and return quickly. BytesIn is called for each batch of messages read
// off the network and BytesOut for each batch written, so they must be
// cheap (an atomic add).
type Metrics interface {
	// ConnOpened: a connection was established and starts running.
	ConnOpened(incoming bool)
	// ConnClosed: a running connection ended, after lifetime, for reason.
	ConnClosed(reason DisconnectReason, lifetime time.Duration)
	// HandshakeFailed: a handshake, incoming or outgoing, ended with a
	// *HandshakeError err at stage. Admission refusals count too, at
	// StageAck (too many connections, already connected, no common
	// version, banned peer...).
	HandshakeFailed(stage HandshakeStage, err error)
	// ConnRefused: an incoming connection was refused, before its
	// handshake (too many incoming handshakes, banned address) or during
	// it; the reason is that of the refusal counters of Stats.
	ConnRefused(reason RefusalReason)
	// MsgDropped: a message was dropped instead of sent.
	MsgDropped(reason DropReason)
	// BytesIn and BytesOut count plaintext P2P message bytes (size
	// prefix included) read and written, once per batch of messages
	// read off the network or written together.
	BytesIn(n int)
	BytesOut(n int)
}

// DropReason says why a message was dropped.
type DropReason uint8

// Drop reasons.
const (
	// DropQueueFull: the connection's outgoing queue was full (WriteNow,
	// WriteAll, and the pool's own Bootstrap, Advertise and swap
	// messages).
	DropQueueFull DropReason = iota + 1
	// DropOutgoingBudget: the pool-wide outgoing budget was spent
	// (Config.Budgets.TotalOutgoingQueueSize), for the same writers.
	DropOutgoingBudget
)

func (r DropReason) String() string {
	switch r {
	case DropQueueFull:
		return "queue full"
	case DropOutgoingBudget:
		return "outgoing budget"
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// NopMetrics is the Metrics that does nothing, the default. Embed it in an
// adapter to implement only some of the methods.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

func (NopMetrics) ConnOpened(bool)                            {}
func (NopMetrics) ConnClosed(DisconnectReason, time.Duration) {}
func (NopMetrics) HandshakeFailed(HandshakeStage, error)      {}
func (NopMetrics) ConnRefused(RefusalReason)                  {}
func (NopMetrics) MsgDropped(DropReason)                      {}
func (NopMetrics) BytesIn(int)                                {}
func (NopMetrics) BytesOut(int)                               {}
