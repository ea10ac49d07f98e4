// Package p2ppoolprom exports the events of a p2ppool.Pool to Prometheus:
// it implements p2ppool.Metrics with client_golang counters and a
// histogram. It is a module of its own so that the pool does not depend
// on client_golang.
package p2ppoolprom

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/p2ppool/p2ppool"
)

// Metrics is a p2ppool.Metrics that updates Prometheus collectors. Set it
// as p2ppool.Config.Metrics. It is safe for concurrent use, and one
// Metrics may serve several pools, whose counts then add up.
type Metrics struct {
	opened   *prometheus.CounterVec // direction
	closed   *prometheus.CounterVec // reason
	lifetime prometheus.Histogram
	failed   *prometheus.CounterVec // stage
	refused  *prometheus.CounterVec // reason
	dropped  *prometheus.CounterVec // reason
	bytes    *prometheus.CounterVec // direction

	// Children of the hot-path series, resolved once.
	openedIn, openedOut, bytesIn, bytesOut prometheus.Counter
}

var _ p2ppool.Metrics = (*Metrics)(nil)

// New creates the collectors, named namespace_p2ppool_… (p2ppool_… when
// namespace is empty), and registers them with reg, or with
// prometheus.DefaultRegisterer if reg is nil:
//
//	p2ppool_connections_opened_total{direction="in"|"out"}
//	p2ppool_connections_closed_total{reason}
//	p2ppool_connection_lifetime_seconds (histogram)
//	p2ppool_handshake_failures_total{stage}
//	p2ppool_connections_refused_total{reason}
//	p2ppool_messages_dropped_total{reason}
//	p2ppool_bytes_total{direction="in"|"out"} (plaintext message bytes)
//
// Label values are the String of the p2ppool reason or stage in
// snake_case, such as "closed_by_peer" or "no_common_version".
func New(reg prometheus.Registerer, namespace string) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "p2ppool", Name: name, Help: help,
		}, labels)
	}
	m := &Metrics{
		opened: counter("connections_opened_total", "Connections established, by direction.", "direction"),
		closed: counter("connections_closed_total", "Connections ended, by reason.", "reason"),
		lifetime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "p2ppool", Name: "connection_lifetime_seconds",
			Help:    "How long connections lasted, from the end of the handshake.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 s to 3 days
		}),
		failed:  counter("handshake_failures_total", "Failed handshakes, admission refusals included, by stage.", "stage"),
		refused: counter("connections_refused_total", "Incoming connections refused, by reason.", "reason"),
		dropped: counter("messages_dropped_total", "Outgoing messages dropped, by reason.", "reason"),
		bytes:   counter("bytes_total", "Plaintext P2P message bytes, by direction.", "direction"),
	}
	m.openedIn, m.openedOut = m.opened.WithLabelValues("in"), m.opened.WithLabelValues("out")
	m.bytesIn, m.bytesOut = m.bytes.WithLabelValues("in"), m.bytes.WithLabelValues("out")
	cs := []prometheus.Collector{m.opened, m.closed, m.lifetime, m.failed, m.refused, m.dropped, m.bytes}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

// label turns a reason's String into a label value.
func label(s interface{ String() string }) string {
	return strings.ReplaceAll(s.String(), " ", "_")
}

func (m *Metrics) ConnOpened(incoming bool) {
	if incoming {
		m.openedIn.Inc()
	} else {
		m.openedOut.Inc()
	}
}

func (m *Metrics) ConnClosed(reason p2ppool.DisconnectReason, lifetime time.Duration) {
	m.closed.WithLabelValues(label(reason)).Inc()
	m.lifetime.Observe(lifetime.Seconds())
}

func (m *Metrics) HandshakeFailed(stage p2ppool.HandshakeStage, _ error) {
	m.failed.WithLabelValues(label(stage)).Inc()
}

func (m *Metrics) ConnRefused(reason p2ppool.RefusalReason) {
	m.refused.WithLabelValues(label(reason)).Inc()
}

func (m *Metrics) MsgDropped(reason p2ppool.DropReason) {
	m.dropped.WithLabelValues(label(reason)).Inc()
}

func (m *Metrics) BytesIn(n int)  { m.bytesIn.Add(float64(n)) }
func (m *Metrics) BytesOut(n int) { m.bytesOut.Add(float64(n)) }
