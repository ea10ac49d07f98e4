package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/p2ppool/p2ppool"
)

// crawler walks the network outward from the seeds.
type crawler struct {
	opts *options
	id   *p2ppool.Identity
	out  recordWriter
}

func newCrawler(opts *options, id *p2ppool.Identity, stdout io.Writer) *crawler {
	return &crawler{opts: opts, id: id, out: recordWriter{enc: json.NewEncoder(stdout)}}
}

// job is a point waiting for its next attempt.
type job struct {
	point     netip.AddrPort
	notBefore time.Time
}

// pointState is what the crawl knows of a point.
type pointState struct {
	rec  record
	done bool
}

// result is the outcome of one attempt at one point.
type result struct {
	point netip.AddrPort
	probe probeResult
}

// run crawls until every known point is done or the time bound passes,
// writes each point's record as soon as it is final and returns the
// summary. Only run touches the crawl's state; probes report on a channel.
func (c *crawler) run(ctx context.Context) summary {
	ctx, cancel := context.WithTimeout(ctx, c.opts.duration)
	defer cancel()
	sum := summary{Versions: make(map[string]int)}
	points := make(map[netip.AddrPort]*pointState)
	var queue []job // ordered by notBefore
	learn := func(pt netip.AddrPort, at time.Time) {
		if !pt.IsValid() || points[pt] != nil || len(points) >= c.opts.maxPoints {
			return
		}
		points[pt] = &pointState{rec: record{Point: pt.String()}}
		queue = append(queue, job{point: pt, notBefore: at})
		slices.SortStableFunc(queue, func(a, b job) int { return a.notBefore.Compare(b.notBefore) })
	}
	finish := func(st *pointState) {
		st.done = true
		c.out.write(&st.rec)
		sum.add(&st.rec)
	}
	for _, s := range c.opts.seeds {
		pt, err := resolve(ctx, s)
		if err != nil {
			st := &pointState{rec: record{Point: s, Error: err.Error(), Attempts: 1}}
			finish(st)
			continue
		}
		learn(pt, time.Now())
	}

	results := make(chan result)
	var g errgroup.Group
	g.SetLimit(c.opts.concurrency)
	inflight := 0
	for {
		// Start the due jobs while there are free slots.
		now := time.Now()
		for len(queue) > 0 && !queue[0].notBefore.After(now) && ctx.Err() == nil {
			j := queue[0]
			if !g.TryGo(func() error {
				results <- result{point: j.point, probe: c.probe(ctx, j.point)}
				return nil
			}) {
				break
			}
			queue = queue[1:]
			inflight++
			points[j.point].rec.Attempts++
		}
		if inflight == 0 && (len(queue) == 0 || ctx.Err() != nil) {
			break
		}
		// Wake for the next job only when it is not yet due: a due job
		// waits for a slot, which a result frees.
		var wake <-chan time.Time
		var timer *time.Timer
		if len(queue) > 0 && ctx.Err() == nil && queue[0].notBefore.After(now) {
			timer = time.NewTimer(time.Until(queue[0].notBefore))
			wake = timer.C
		}
		var done <-chan struct{}
		if inflight == 0 {
			done = ctx.Done() // in-flight probes end with ctx and report
		}
		select {
		case r := <-results:
			inflight--
			st := points[r.point]
			p := r.probe
			st.rec.Error = ""
			if p.err != nil {
				st.rec.Error = p.err.Error()
			}
			now := time.Now()
			for _, q := range p.nackPoints {
				st.rec.NackPoints = append(st.rec.NackPoints, q.String())
				learn(q, now)
			}
			if p.reachable {
				st.rec.Reachable = true
				st.rec.PeerID = p.peer.String()
				st.rec.Version = &p.version
				if p.head != nil {
					l := p.head.level
					st.rec.HeadLevel, st.rec.HeadHash = &l, p.head.hash.String()
				}
				for _, q := range p.advertised {
					st.rec.Advertised = append(st.rec.Advertised, q.String())
					learn(q, now)
				}
				finish(st)
			} else if p.retry && st.rec.Attempts < c.opts.attempts && ctx.Err() == nil {
				// Back off: this point waits, others go first.
				d := c.opts.backoff << (st.rec.Attempts - 1)
				queue = append(queue, job{point: r.point, notBefore: now.Add(d)})
				slices.SortStableFunc(queue, func(a, b job) int { return a.notBefore.Compare(b.notBefore) })
			} else {
				finish(st)
			}
		case <-wake:
		case <-done:
		}
		if timer != nil {
			timer.Stop()
		}
	}
	_ = g.Wait() // every probe has reported: inflight is 0
	for _, j := range queue {
		st := points[j.point]
		if !st.done {
			if st.rec.Error == "" {
				st.rec.Error = "not probed: time bound reached"
			}
			finish(st)
		}
	}
	return sum
}

// resolve turns a seed (HOST:PORT, [v6]:PORT or a name) into a point:
// its first address.
func resolve(ctx context.Context, seed string) (netip.AddrPort, error) {
	spec, err := p2ppool.ParsePoint(seed)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pts, err := spec.Resolve(ctx, nil)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(pts) == 0 {
		return netip.AddrPort{}, errors.New(spec.Host + ": no address")
	}
	return pts[0], nil
}
