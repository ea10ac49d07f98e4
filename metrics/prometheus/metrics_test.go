package p2ppoolprom

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/p2ppool/p2ppool"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, "")
	if err != nil {
		t.Fatal(err)
	}
	m.ConnOpened(true)
	m.ConnOpened(false)
	m.ConnOpened(false)
	m.ConnClosed(p2ppool.ReasonRemoteClosed, 3*time.Second)
	m.ConnClosed(p2ppool.ReasonLocal, time.Minute)
	m.HandshakeFailed(p2ppool.StageAck, errors.New("nack"))
	m.ConnRefused(p2ppool.RefusedNoCommonVersion)
	m.MsgDropped(p2ppool.DropQueueFull)
	m.MsgDropped(p2ppool.DropQueueFull)
	m.BytesIn(100)
	m.BytesOut(40)
	m.BytesOut(2)

	for _, c := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.opened.WithLabelValues("in"), 1},
		{m.opened.WithLabelValues("out"), 2},
		{m.closed.WithLabelValues("closed_by_peer"), 1},
		{m.closed.WithLabelValues("local_disconnect"), 1},
		{m.failed.WithLabelValues("ack"), 1},
		{m.refused.WithLabelValues("no_common_version"), 1},
		{m.dropped.WithLabelValues("queue_full"), 2},
		{m.bytes.WithLabelValues("in"), 100},
		{m.bytes.WithLabelValues("out"), 42},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%v: got %v, want %v", c.c.(prometheus.Metric).Desc(), got, c.want)
		}
	}

	// One series per label value used, and the histogram.
	if n := testutil.CollectAndCount(reg); n != 10 {
		t.Errorf("%d series, want 10", n)
	}
	want := `
# HELP p2ppool_connection_lifetime_seconds How long connections lasted, from the end of the handshake.
# TYPE p2ppool_connection_lifetime_seconds histogram
p2ppool_connection_lifetime_seconds_bucket{le="1"} 0
p2ppool_connection_lifetime_seconds_bucket{le="4"} 1
p2ppool_connection_lifetime_seconds_bucket{le="16"} 1
p2ppool_connection_lifetime_seconds_bucket{le="64"} 2
p2ppool_connection_lifetime_seconds_bucket{le="256"} 2
p2ppool_connection_lifetime_seconds_bucket{le="1024"} 2
p2ppool_connection_lifetime_seconds_bucket{le="4096"} 2
p2ppool_connection_lifetime_seconds_bucket{le="16384"} 2
p2ppool_connection_lifetime_seconds_bucket{le="65536"} 2
p2ppool_connection_lifetime_seconds_bucket{le="262144"} 2
p2ppool_connection_lifetime_seconds_bucket{le="+Inf"} 2
p2ppool_connection_lifetime_seconds_sum 63
p2ppool_connection_lifetime_seconds_count 2
# HELP p2ppool_messages_dropped_total Outgoing messages dropped, by reason.
# TYPE p2ppool_messages_dropped_total counter
p2ppool_messages_dropped_total{reason="queue_full"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"p2ppool_connection_lifetime_seconds", "p2ppool_messages_dropped_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Error(problems, err)
	}
}

func TestNamespaceAndRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, "tezos")
	if err != nil {
		t.Fatal(err)
	}
	m.BytesIn(1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tezos_p2ppool_bytes_total Plaintext P2P message bytes, by direction.
# TYPE tezos_p2ppool_bytes_total counter
tezos_p2ppool_bytes_total{direction="in"} 1
tezos_p2ppool_bytes_total{direction="out"} 0
`), "tezos_p2ppool_bytes_total"); err != nil {
		t.Error(err)
	}
	// A second set in the same registry and namespace clashes, and
	// leaves nothing of itself behind.
	before := testutil.CollectAndCount(reg)
	if _, err := New(reg, "tezos"); err == nil {
		t.Error("registering twice: no error")
	}
	if after := testutil.CollectAndCount(reg); after != before {
		t.Errorf("%d series after a failed New, want %d", after, before)
	}
}
