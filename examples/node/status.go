package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
)

// monitor prints the status line every n.status (if not zero) and the
// full Stats each time stats receives (SIGUSR1), until ctx ends. It runs
// on a goroutine owned by run.
func (n *node) monitor(ctx context.Context, stats <-chan os.Signal) {
	var tick <-chan time.Time
	if n.status > 0 {
		t := time.NewTicker(n.status)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			fmt.Fprintln(n.errw, statusLine(n.pool.Stats(), n.pool.Conns().All()))
		case <-stats:
			fmt.Fprintf(n.errw, "node run: stats: %v\n", n.pool.Stats())
		}
	}
}

// statusLine is the periodic one-line status: connections by direction,
// the wire rates (octez's moving averages) and the incoming connections
// refused so far, by reason.
func statusLine(s p2ppool.Stats, conns []*nodeConn) string {
	in := 0
	for _, c := range conns {
		if c.Info().Incoming {
			in++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s (%d in, %d out), in %s/s, out %s/s",
		plural(len(conns), "connection"), in, len(conns)-in,
		humanBytes(int64(s.Traffic.Flow.CurrentInflow)), humanBytes(int64(s.Traffic.Flow.CurrentOutflow)))
	b.WriteString(", ")
	b.WriteString(refusals(s.Connections.Refused))
	return b.String()
}

// refusals is "refused 5 (banned 2, too many from address 3)", or
// "refused none".
func refusals(m map[p2ppool.RefusalReason]uint64) string {
	var total uint64
	for _, k := range m {
		total += k
	}
	if total == 0 {
		return "refused none"
	}
	parts := make([]string, 0, len(m))
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%v %d", r, m[r]))
	}
	return fmt.Sprintf("refused %d (%s)", total, strings.Join(parts, ", "))
}

// summary is the line printed when the node stops: how long it ran, the
// connections it had, the traffic and the refusals.
func summary(s p2ppool.Stats, ran time.Duration, connections uint64) string {
	return fmt.Sprintf("node run: stopped after %v: %s, sent %s, received %s (wire), %s",
		ran.Truncate(time.Second), plural(int(connections), "connection"),
		humanBytes(s.Traffic.Flow.TotalSent), humanBytes(s.Traffic.Flow.TotalRecv), refusals(s.Connections.Refused))
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// humanBytes is n bytes with a k/M/G suffix.
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	return cli.SI(float64(n)) + "B"
}
