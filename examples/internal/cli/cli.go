// Package cli holds what the example commands (examples/node, its
// subcommands, examples/crawler, examples/swarm) share on the command
// line, so that they follow one set of conventions, Go's:
//
//   - a bad command line prints one error line and `run "PROG -h" for
//     usage` on stderr and exits 2 ([Parse], [UsageError]); -h prints the
//     usage and exits 0;
//   - -peer and -seed take octez's point form, HOST:PORT optionally
//     followed by #PEER_ID ([PeerFlag], after p2ppool.ParsePoint);
//   - -chain takes a chain name or a network's short name, which means
//     that network's real chain name ([ChainName]);
//   - files are checked at start, and errors name the file the user gave
//     ([CheckFileDir]);
//   - -log-level and -log-format text|json make the slog.Logger given to
//     p2ppool.Config.Logger ([LogFlags]);
//   - progress is redrawn in place with \r only on a terminal, and printed
//     as plain lines, sparingly, elsewhere ([Progress]);
//   - SIGUSR1 asks a running command for its statistics ([StatsSignal]).
//
// It is an internal package of the examples, not part of the library's
// API.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/tezos"
)

// Exit codes shared by the examples.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the operation failed; the reason is on stderr
	ExitUsage       = 2   // bad command line, as the flag package uses
	ExitInterrupted = 130 // stopped by SIGINT/SIGTERM, as shells report ^C
)

// Parse parses args with fs, whose name must be the command as the user
// types it ("node run", "crawler"). On -h it prints fs's usage to fs's
// output and returns ExitOK, false; on a bad flag it prints the error on
// one line and the hint to run with -h (not the whole usage, which would
// push the error off the screen) and returns ExitUsage, false. On success
// it returns ExitOK, true.
func Parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard) // the flag package prints the error, then the usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return ExitOK, true
	case errors.Is(err, flag.ErrHelp):
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fs.PrintDefaults()
		}
		return ExitOK, false
	}
	return UsageError(out, fs.Name(), "%v", err), false
}

// UsageError prints "PROG: MESSAGE" and the hint to run PROG with -h on
// w, and returns ExitUsage, for the checks a command makes after Parse.
func UsageError(w io.Writer, prog, format string, args ...any) int {
	fmt.Fprintf(w, "%s: %s\n", prog, fmt.Sprintf(format, args...))
	fmt.Fprintf(w, "run %q for usage\n", prog+" -h")
	return ExitUsage
}

// PeerFlag declares a repeatable flag name on fs taking a point as octez
// writes it, HOST:PORT or HOST:PORT#PEER_ID (p2ppool.ParsePoint: an IP
// literal, a bracketed IPv6 literal or a DNS name; a port in 1..65535).
// Each value is appended to *points as given, for p2ppool's ConnectPoint
// or Points.TrustNamed, which read the same form.
func PeerFlag(fs *flag.FlagSet, points *[]string, name, usage string) {
	fs.Func(name, usage, func(s string) error {
		if _, err := ParsePeer(s); err != nil {
			return err
		}
		*points = append(*points, s)
		return nil
	})
}

// ParsePeer parses HOST:PORT[#PEER_ID] as p2ppool.ParsePoint does, and
// refuses port 0, which no peer listens on.
func ParsePeer(s string) (p2ppool.PointSpec, error) {
	ps, err := p2ppool.ParsePoint(s)
	if err != nil {
		return ps, err
	}
	if ps.Port == 0 {
		return ps, fmt.Errorf("%w %q: port must be in 1..65535", p2ppool.ErrInvalidPoint, s)
	}
	return ps, nil
}

// ChainName is the chain name a -chain value means: a network's short
// name (mainnet, ghostnet, ...) is that network's real chain name
// (TEZOS_MAINNET, ...: octez lib_node_config/config_file.ml 119, 173,
// the chain_name of each built-in network), anything else is a chain
// name as is.
func ChainName(s string) string {
	if nw, ok := tezos.LookupNetwork(s); ok {
		return nw.ChainName
	}
	return s
}

// CheckFileDir checks, at start, that a file the command will write at
// path can be created: its folder exists and is a folder. The error
// names the flag and the path as the user gave them, so a mistake shows
// before any work rather than at shutdown.
func CheckFileDir(flagName, path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-%s %s: folder %s does not exist", flagName, path, dir)
	case err != nil:
		return fmt.Errorf("-%s %s: %w", flagName, path, err)
	case !fi.IsDir():
		return fmt.Errorf("-%s %s: %s is not a folder", flagName, path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("-%s %s: is a folder", flagName, path)
	}
	return nil
}

// WarnIdentityPerm logs a warning on log when the identity file at path
// can be read by users other than its owner (p2ppool.CheckIdentityFilePerm);
// the file is still used. It reports whether it warned.
func WarnIdentityPerm(log *slog.Logger, path string) bool {
	err := p2ppool.CheckIdentityFilePerm(path)
	if !errors.Is(err, p2ppool.ErrIdentityFileExposed) {
		return false
	}
	log.Warn("the identity file holds the secret key but others can read it", "file", path, "err", err)
	return true
}

// IsTerminal reports whether w is a terminal, where \r redraws a line in
// place: a character device other than the null device. A pipe, a file
// or a buffer is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// SyncWriter serialises writes to W, so that lines written by different
// goroutines (the pools' loggers, the program's own output) do not
// interleave or race. Use one per output stream, shared by every writer
// to it.
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes b to W under the lock.
func (s *SyncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(b)
}
