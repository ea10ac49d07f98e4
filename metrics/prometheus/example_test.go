package p2ppoolprom_test

import (
	"context"
	"log"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/p2ppool/p2ppool"
	p2ppoolprom "github.com/p2ppool/p2ppool/metrics/prometheus"
)

// Example plugs the adapter into a pool: its counters are then served
// with the registry's other metrics (promhttp.HandlerFor).
func Example() {
	reg := prometheus.NewRegistry()
	m, err := p2ppoolprom.New(reg, "tezos")
	if err != nil {
		log.Fatal(err)
	}
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	msgs := p2ppool.MessageConfig[string]{
		Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
			func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
	}
	pool, err := p2ppool.NewBasic(msgs, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Metrics: m})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	// Output:
}
