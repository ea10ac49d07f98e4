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

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
)

// runIdentity implements "node identity": generate an identity file like
// "octez-node identity generate", or verify one like "octez-node identity
// check".
func runIdentity(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("node identity", flag.ContinueOnError)
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
	if code, ok := cli.Parse(flags, args); !ok {
		return code
	}
	switch {
	case flags.NArg() > 0:
		return cli.UsageError(stderr, "node identity", "unexpected argument %q", flags.Arg(0))
	case (*out == "") == (*check == ""):
		return cli.UsageError(stderr, "node identity", "give one of -o FILE and -check FILE")
	case math.IsNaN(*pow) || *pow < 0 || *pow > 256:
		return cli.UsageError(stderr, "node identity", "-pow must be between 0 and 256, got %v", *pow)
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
	if err := p2ppool.CheckIdentityFilePerm(path); errors.Is(err, p2ppool.ErrIdentityFileExposed) {
		fmt.Fprintf(stderr, "node identity: warning: %v\n", err)
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
	if err := cli.CheckFileDir("o", path); err != nil {
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
// progress on stderr (redrawn in place on a terminal, a line every few
// seconds elsewhere: cli.Progress), and saves it to path (never
// overwriting a file; mode 0600). It is shared by "node identity -o" and
// "node run", which creates a missing identity file.
func createIdentity(ctx context.Context, path string, pow float64, stderr io.Writer) (*p2ppool.Identity, error) {
	fmt.Fprintf(stderr, "Generating a new identity... (level: %.2f)\n", pow)
	bar := cli.NewProgress(progressOutput(stderr), pow)
	id, err := p2ppool.GenerateIdentity(ctx, difficulty(pow), bar.Update)
	bar.Finish()
	if err != nil {
		return nil, err
	}
	if err := id.Save(path); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "Stored the new identity (%s) into '%s'.\n", id.PeerID, path)
	return id, nil
}

// progressOutput is the file under w, if w wraps one (a lineWriter on
// stderr), so that cli.Progress can see whether it is a terminal.
func progressOutput(w io.Writer) io.Writer {
	if lw, ok := w.(*lineWriter); ok {
		return lw.w
	}
	return w
}
