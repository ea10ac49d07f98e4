package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
)

// This file is the fetch of the header chain: anchors from the head's
// locator, segments between them walked in parallel, the final check,
// and the output file. See sync.go for the outline.

// anchor is a block the walk must pass through: the head, a locator hash
// whose header was fetched, or the genesis.
type anchor struct {
	entry syncEntry
}

// segment is the stretch of the chain below top, down to (not including)
// the anchor bottom. Its walk is sequential; segments are walked at once.
type segment struct {
	top    syncEntry
	bottom syncEntry
	// Guarded by syncer.mu.
	got  []syncEntry // below top, descending
	done bool
}

// lowest is the lowest level the segment has reached. syncer.mu must be
// held.
func (g *segment) lowestLocked() int32 {
	if len(g.got) == 0 {
		return g.top.level
	}
	return g.got[len(g.got)-1].level
}

// fetchChain fetches the chain from head down to genesis and returns it
// genesis first, verified.
func (s *syncer) fetchChain(ctx context.Context, head headChoice) ([]syncEntry, error) {
	start := time.Now()
	fmt.Fprintf(s.errw, "node sync: head %v at level %d, announced by %s\n", head.entry.hash, head.entry.level, peerList(head.peers))
	genesis, err := s.fetchGenesis(ctx)
	if err != nil {
		return nil, err
	}
	if head.entry.hash == genesis.hash || head.entry.level == 0 {
		if head.entry.hash != genesis.hash || head.entry.level != 0 {
			return nil, fmt.Errorf("head %v at level %d announced by %s is not the genesis %v",
				head.entry.hash, head.entry.level, peerList(head.peers), genesis.hash)
		}
		return []syncEntry{genesis}, nil
	}
	anchors := s.fetchAnchors(ctx, head, genesis)

	s.mu.Lock()
	for i := 0; i+1 < len(anchors); i++ {
		s.segs = append(s.segs, &segment{top: anchors[i].entry, bottom: anchors[i+1].entry})
	}
	segs := s.segs
	nconns := len(s.conns)
	s.mu.Unlock()

	stopProgress := s.startProgress(start, head.entry.level)
	defer stopProgress()

	// Workers take the segments top first; the requester spreads their
	// requests over the peers (the least busy first).
	workers := min(len(segs), max(1, syncWorkersPerPeer*nconns), syncMaxWorkers)
	next := make(chan *segment, len(segs))
	for _, g := range segs {
		next <- g
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for seg := range next {
				if err := s.walk(gctx, seg, head); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	chain := make([]syncEntry, 0, int(head.entry.level)+1)
	chain = append(chain, genesis)
	for i := len(segs) - 1; i >= 0; i-- {
		seg := segs[i]
		for k := len(seg.got) - 1; k >= 0; k-- {
			chain = append(chain, seg.got[k])
		}
		chain = append(chain, seg.top)
	}
	if err := verifyChain(chain, s.target.genesis); err != nil {
		return nil, err
	}
	return chain, nil
}

// fetchGenesis returns the genesis entry: the network's header when known
// (the requester answers it), else a peer's, checked by its shape (octez
// stores genesis under its configured hash, not its header's,
// block_repr.ml 67-100).
func (s *syncer) fetchGenesis(ctx context.Context) (syncEntry, error) {
	hs, err := s.req.FetchHeaders(ctx, []tezos.BlockHash{s.target.genesis})
	if err != nil {
		return syncEntry{}, describeFetchError(ctx, fmt.Sprintf("the genesis %v", s.target.genesis), err)
	}
	return entryOf(hs[0]), nil
}

// fetchAnchors returns the head, the locator's blocks whose headers could
// be fetched, and the genesis, by decreasing level, one per level. The
// locator's hashes are hints: a peer's locator may name blocks off its
// head's chain, which the walk then finds (join). Those no peer gives
// are dropped: the segment above them just goes further.
func (s *syncer) fetchAnchors(ctx context.Context, head headChoice, genesis syncEntry) []anchor {
	var hashes []tezos.BlockHash
	seen := map[tezos.BlockHash]bool{head.entry.hash: true, genesis.hash: true}
	for _, h := range head.locator.History {
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	// One fetch per batch, all at once: a batch no peer answers is
	// dropped, not the others.
	got := make([][]tezos.FetchedHeader, (len(hashes)+tezos.MaxRequestLength-1)/tezos.MaxRequestLength)
	var wg sync.WaitGroup
	for i := range got {
		batch := hashes[i*tezos.MaxRequestLength : min(len(hashes), (i+1)*tezos.MaxRequestLength)]
		wg.Go(func() {
			hs, err := s.req.FetchHeaders(ctx, batch)
			if err != nil {
				fmt.Fprintf(s.errw, "node sync: locator blocks %v...: %v; walking past them\n", batch[0], err)
				return
			}
			got[i] = hs
		})
	}
	wg.Wait()
	anchors := []anchor{{entry: head.entry}}
	for _, hs := range got {
		for _, f := range hs {
			e := entryOf(f)
			s.fetched.Add(1)
			if e.level > 0 && e.level < head.entry.level {
				anchors = append(anchors, anchor{entry: e})
			}
		}
	}
	anchors = append(anchors, anchor{entry: genesis})
	slices.SortStableFunc(anchors, func(a, b anchor) int { return int(b.entry.level) - int(a.entry.level) })
	return slices.CompactFunc(anchors, func(a, b anchor) bool { return a.entry.level == b.entry.level })
}

// walk fetches seg's headers from its top down to its bottom anchor, one
// predecessor at a time: each header is verified by the requester (its
// bytes hash to the predecessor hash asked) and here (one level below);
// the last must name the bottom anchor, one level above it.
func (s *syncer) walk(ctx context.Context, seg *segment, head headChoice) error {
	cur := seg.top
	for cur.level-1 > seg.bottom.level {
		hs, err := s.req.FetchHeaders(ctx, []tezos.BlockHash{cur.pred})
		if err != nil {
			return describeFetchError(ctx, fmt.Sprintf("block %v, predecessor of level %d %v%s", cur.pred, cur.level, cur.hash, fromText(cur.from)), err)
		}
		e := entryOf(hs[0])
		if e.level != cur.level-1 {
			return fmt.Errorf("wrong level: block %v%s is at level %d, but it is the predecessor of level %d %v%s; head %v announced by %s",
				e.hash, fromText(e.from), e.level, cur.level, cur.hash, fromText(cur.from), head.entry.hash, peerList(head.peers))
		}
		s.mu.Lock()
		seg.got = append(seg.got, e)
		s.mu.Unlock()
		s.fetched.Add(1)
		cur = e
	}
	if cur.level-1 == seg.bottom.level && cur.pred == seg.bottom.hash {
		s.mu.Lock()
		seg.done = true
		s.mu.Unlock()
		return nil
	}
	// The walk does not meet the anchor below: either the chain is
	// broken here (no peer has the predecessor named) or the anchor is
	// not on it (the locator named a block off the head's chain).
	hs, err := s.req.FetchHeaders(ctx, []tezos.BlockHash{cur.pred})
	if err != nil {
		return describeFetchError(ctx, fmt.Sprintf("block %v, predecessor of level %d %v%s (broken link?)", cur.pred, cur.level, cur.hash, fromText(cur.from)), err)
	}
	e := entryOf(hs[0])
	if e.level != cur.level-1 {
		return fmt.Errorf("wrong level: block %v%s is at level %d, but it is the predecessor of level %d %v%s; head %v announced by %s",
			e.hash, fromText(e.from), e.level, cur.level, cur.hash, fromText(cur.from), head.entry.hash, peerList(head.peers))
	}
	return fmt.Errorf("the branch of %s names block %v at level %d%s, which is not on its head's chain (its block at level %d is %v)",
		peerList(head.peers[:1]), seg.bottom.hash, seg.bottom.level, fromText(seg.bottom.from), e.level, e.hash)
}

// verifyChain checks a whole chain, genesis first: block i at level i,
// its predecessor the hash of block i-1, block 0 the genesis hash.
func verifyChain(chain []syncEntry, genesis tezos.BlockHash) error {
	if len(chain) == 0 || chain[0].hash != genesis || chain[0].level != 0 {
		return fmt.Errorf("internal: chain does not start at genesis %v", genesis)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].level != int32(i) || chain[i].pred != chain[i-1].hash {
			return fmt.Errorf("internal: chain broken at position %d (level %d)", i, chain[i].level)
		}
	}
	return nil
}

// describeFetchError is a fetch's failure as the sync reports it: the
// item, then each peer asked and what came of it.
func describeFetchError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var fe *tezos.FetchError
	if !errors.As(err, &fe) {
		return fmt.Errorf("fetch %s: %w", what, err)
	}
	if len(fe.Tried) == 0 {
		return fmt.Errorf("no honest answer for %s: no peer to ask: %w", what, err)
	}
	parts := make([]string, len(fe.Tried))
	for i, p := range fe.Tried {
		why := "no answer"
		if slices.Contains(fe.Liars, p) {
			why = "greylisted: invalid data"
		}
		parts[i] = fmt.Sprintf("%v (%s)", p, why)
	}
	return fmt.Errorf("no honest answer for %s: peers %s: %w", what, strings.Join(parts, ", "), err)
}

// fromText is " (from PEER)", or nothing for a block not sent by a peer.
func fromText(p p2ppool.PeerID) string {
	if p.IsZero() {
		return ""
	}
	return fmt.Sprintf(" (from %v)", p)
}

func peerList(ps []p2ppool.PeerID) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// startProgress writes the progress line every progressEvery until the
// returned function is called, which waits for the writer to end. On a
// terminal the line is redrawn in place (\r); elsewhere it is a line of
// its own.
func (s *syncer) startProgress(start time.Time, headLevel int32) func() {
	every := s.opts.progressEvery
	if every == 0 {
		every = syncProgressEvery
	}
	term := isTerminal(s.errw.w)
	done := make(chan struct{})
	var wg sync.WaitGroup
	line := func() string {
		n := s.fetched.Load()
		rate := 0.0
		if d := time.Since(start).Seconds(); d > 0 {
			rate = float64(n) / d
		}
		return fmt.Sprintf("node sync: %d headers, %.0f headers/s, down to level %d of %d", n, rate, s.levelReached(), headLevel)
	}
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if term {
					fmt.Fprintf(s.errw, "\r%s\n", line())
				} else {
					fmt.Fprintln(s.errw, line())
				}
				return
			case <-t.C:
				if term {
					fmt.Fprintf(s.errw, "\r%s   ", line())
				} else {
					fmt.Fprintln(s.errw, line())
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// levelReached is the lowest level down to which the chain below the
// head is fetched without a gap.
func (s *syncer) levelReached() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		if !g.done {
			return g.lowestLocked()
		}
	}
	if len(s.segs) == 0 {
		return 0
	}
	return s.segs[len(s.segs)-1].bottom.level
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeHeaders writes chain to path as JSON lines, one per header by
// increasing level: level, hash, predecessor (base58) and raw (the
// header's bytes in hex). The file is written whole or not at all: to a
// temporary file in the same directory, renamed over path.
func writeHeaders(path string, chain []syncEntry) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	for _, e := range chain {
		// Base58 and hex need no JSON escaping.
		if _, err := fmt.Fprintf(w, `{"level":%d,"hash":"%v","predecessor":"%v","raw":"%s"}`+"\n",
			e.level, e.hash, e.pred, hex.EncodeToString(e.raw)); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
