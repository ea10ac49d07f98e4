package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/p2ppool/p2ppool"
)

// runIdentity implements "node identity": generate an identity file like
// "octez-node identity generate", or verify one like "octez-node identity
// check".
func runIdentity(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("identity", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("o", "", "generate a new identity into `FILE` (never overwritten)")
	check := flags.String("check", "", "verify the identity in `FILE` and print its peer id")
	pow := flags.Float64("pow", p2ppool.DefaultNodeProofOfWork,
		"proof-of-work difficulty in `BITS` to generate at or to require (octez node default)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: node identity -o FILE [-pow BITS]")
		fmt.Fprintln(stderr, "       node identity -check FILE [-pow BITS]")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() > 0 || (*out == "") == (*check == "") {
		flags.Usage()
		return exitUsage
	}
	if math.IsNaN(*pow) || *pow < 0 || *pow > 256 {
		fmt.Fprintf(stderr, "node identity: -pow must be between 0 and 256, got %v\n", *pow)
		return exitUsage
	}
	if *check != "" {
		return checkIdentity(*check, difficulty(*pow), stdout, stderr)
	}
	return generateIdentity(ctx, *out, *pow, stdout, stderr)
}

// checkIdentity loads path, validating keys, peer id and proof of work.
func checkIdentity(path string, pow float64, stdout, stderr io.Writer) int {
	id, err := p2ppool.LoadIdentity(path, pow)
	if err != nil {
		fmt.Fprintf(stderr, "node identity: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, id.PeerID)
	return exitOK
}

// generateIdentity searches for a new identity at difficulty pow, showing
// progress on stderr, then saves it to path and prints its peer id.
func generateIdentity(ctx context.Context, path string, pow float64, stdout, stderr io.Writer) int {
	// Refuse up front, as octez does: the search may take minutes, and
	// Save would refuse at the end anyway.
	if _, err := os.Lstat(path); err == nil {
		fmt.Fprintf(stderr, "node identity: %v: %s (remove it first to replace it)\n", p2ppool.ErrIdentityExists, path)
		return exitFailure
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "node identity: %v\n", err)
		return exitFailure
	}

	id, err := createIdentity(ctx, path, pow, stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "node identity: interrupted, no identity written")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "node identity: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, id.PeerID)
	return exitOK
}

// createIdentity searches for a new identity at difficulty pow, showing
// progress on stderr, and saves it to path (never overwriting a file). It
// is shared by "node identity -o" and "node run", which creates a missing
// identity file.
func createIdentity(ctx context.Context, path string, pow float64, stderr io.Writer) (*p2ppool.Identity, error) {
	fmt.Fprintf(stderr, "Generating a new identity... (level: %.2f)\n", pow)
	bar := newProgressBar(stderr, pow)
	id, err := p2ppool.GenerateIdentity(ctx, difficulty(pow), bar.update)
	bar.finish()
	if err != nil {
		return nil, err
	}
	if err := id.Save(path); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "Stored the new identity (%s) into '%s'.\n", id.PeerID, path)
	return id, nil
}

// progressBar redraws one status line on w: stamps tried, rate, share of
// the expected 2^pow attempts, and elapsed time. Lines start with \r so
// that each update overwrites the previous one on a terminal.
type progressBar struct {
	w        io.Writer
	expected float64
	start    time.Time

	mu       sync.Mutex // p2ppool promises no concurrent update; finish is ours
	attempts uint64
	width    int // length of the last line, to blank leftovers
	drawn    bool
}

func newProgressBar(w io.Writer, pow float64) *progressBar {
	return &progressBar{w: w, expected: math.Exp2(pow), start: time.Now()}
}

func (b *progressBar) update(attempts uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts = attempts
	b.draw()
}

// finish leaves the last state on screen and ends the line.
func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

func (b *progressBar) draw() {
	elapsed := time.Since(b.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(b.attempts) / s
	}
	line := fmt.Sprintf("%s attempts (%.0f%% of the %s expected), %s/s, %s elapsed",
		si(float64(b.attempts)), 100*float64(b.attempts)/b.expected, si(b.expected),
		si(rate), elapsed.Truncate(time.Second))
	pad := ""
	if n := b.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
	b.width = len(line)
	b.drawn = true
}

// si formats x with a k/M/G/T suffix, for counts that span many orders of
// magnitude.
func si(x float64) string {
	for _, u := range []struct {
		scale  float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if x >= u.scale {
			return fmt.Sprintf("%.2f%s", x/u.scale, u.suffix)
		}
	}
	return fmt.Sprintf("%.0f", x)
}
