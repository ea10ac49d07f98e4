// Command crawler maps a Tezos P2P network: from seed points it connects
// to each point it learns of, asks it for points (Bootstrap), records the
// points it advertises and the alternative points of a nack, and, when
// the network speaks the shell's distributed-DB set, asks its current
// branch (which activates the chain, as octez requires before it gives a
// head) and head, and records the head's level and hash.
//
//	crawler -seed HOST:PORT [-seed ...] [-chain NAME] [-pow BITS] [-identity FILE]
//	        [-concurrency N] [-timeout D] [-wait D] [-attempts N] [-duration D]
//
// It writes one JSON line per point on stdout (see record) and a summary
// on stderr, and exits 0 when it reached at least one point.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
	"github.com/p2ppool/p2ppool/tezos"
)

// Exit codes.
const (
	exitOK          = 0
	exitNoneReached = 1 // no point answered
	exitUsage       = 2
	exitSetupFailed = 3   // identity or configuration
	exitInterrupted = 130 // SIGINT/SIGTERM; the summary is printed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	seeds       []string
	chain       string
	chainID     *tezos.ChainID // nil: no Get_current_branch nor Get_current_head
	pow         float64
	identity    string
	concurrency int
	timeout     time.Duration // connection and handshake, per attempt
	wait        time.Duration // for Advertise and Current_head, once connected
	attempts    int
	backoff     time.Duration
	duration    time.Duration // the whole crawl
	maxPoints   int
	log         cli.LogFlags
	// dialer opens the connections; nil is the net package. Tests set it.
	dialer p2ppool.Dialer
	// logger is the probes' Config.Logger, made from log.
	logger *slog.Logger
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	o := options{}
	var chainID string
	flags := flag.NewFlagSet("crawler", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cli.PeerFlag(flags, &o.seeds, "seed", "start from `HOST:PORT[#PEER_ID]` (repeatable, at least one)")
	flags.StringVar(&o.chain, "chain", p2ppool.DefaultChainName,
		"chain `NAME` announced, or a network (mainnet, ghostnet) whose chain name is announced; peers of other chains nack")
	flags.StringVar(&chainID, "chain-id", "", "chain `ID` (Net...) to ask heads of; default: the built-in network of -chain, if any")
	flags.Float64Var(&o.pow, "pow", p2ppool.DefaultNodeProofOfWork, "proof-of-work `BITS` of the crawler's identity, as the network expects (0: none)")
	flags.StringVar(&o.identity, "identity", "", "identity `FILE` to use, created at -pow if missing (default: a fresh identity each run)")
	flags.IntVar(&o.concurrency, "concurrency", 16, "points probed at once")
	flags.DurationVar(&o.timeout, "timeout", 10*time.Second, "connection and handshake bound per attempt")
	flags.DurationVar(&o.wait, "wait", 5*time.Second, "how long a connected point gets to advertise and give its head")
	flags.IntVar(&o.attempts, "attempts", 3, "attempts per point while connections fail")
	flags.DurationVar(&o.backoff, "backoff", time.Second, "wait before a point's second attempt, doubled at each further one")
	flags.DurationVar(&o.duration, "duration", 5*time.Minute, "bound of the whole crawl; points not probed by then are reported so")
	flags.IntVar(&o.maxPoints, "max-points", 10000, "stop learning points beyond this many")
	o.log.Register(flags)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: crawler -seed HOST:PORT[#PEER_ID] [-seed ...]... [-chain NAME] [-chain-id ID] [-pow BITS] [-identity FILE]")
		fmt.Fprintln(stderr, "               [-concurrency N] [-timeout D] [-wait D] [-attempts N] [-backoff D] [-duration D] [-max-points N]")
		fmt.Fprintln(stderr, "               [-log-level LEVEL] [-log-format text|json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Prints one JSON line per point on stdout and a summary on stderr. Without")
		fmt.Fprintln(stderr, "-identity it makes an identity at -pow on each run (minutes at 26 bits); give")
		fmt.Fprintln(stderr, "-identity FILE to make it once and reuse it.")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Exit status: 0 some point reached, 1 none, 2 bad command line, 3 identity or")
		fmt.Fprintln(stderr, "setup failed, 130 interrupted (the summary is printed).")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if code, ok := cli.Parse(flags, args); !ok {
		return nil, code
	}
	const prog = "crawler"
	switch {
	case flags.NArg() > 0:
		return nil, cli.UsageError(stderr, prog, "unexpected argument %q", flags.Arg(0))
	case len(o.seeds) == 0:
		return nil, cli.UsageError(stderr, prog, "at least one -seed is required")
	case o.chain == "":
		return nil, cli.UsageError(stderr, prog, "-chain must not be empty")
	case math.IsNaN(o.pow) || o.pow < 0 || o.pow > 256:
		return nil, cli.UsageError(stderr, prog, "-pow must be between 0 and 256, got %v", o.pow)
	case o.concurrency < 1 || o.attempts < 1 || o.maxPoints < 1:
		return nil, cli.UsageError(stderr, prog, "-concurrency, -attempts and -max-points must be at least 1")
	case o.timeout <= 0 || o.wait <= 0 || o.duration <= 0 || o.backoff < 0:
		return nil, cli.UsageError(stderr, prog, "-timeout, -wait and -duration must be positive, -backoff not negative")
	}
	if err := o.resolveChainID(chainID); err != nil {
		return nil, cli.UsageError(stderr, prog, "-chain-id: %v", err)
	}
	// -chain mainnet announces TEZOS_MAINNET, as node run does.
	o.chain = cli.ChainName(o.chain)
	return &o, exitOK
}

// resolveChainID sets o.chainID from -chain-id, else from the built-in
// network of -chain.
func (o *options) resolveChainID(s string) error {
	if s != "" {
		id, err := tezos.ParseChainID(s)
		if err != nil {
			return err
		}
		o.chainID = &id
		return nil
	}
	if n, ok := tezos.LookupNetwork(o.chain); ok {
		id := n.ChainID()
		o.chainID = &id
	}
	return nil
}

// run is main without the process globals, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code := parseFlags(args, stderr)
	if opts == nil {
		return code
	}
	return crawl(ctx, opts, stdout, stderr)
}

// crawl runs a parsed command line.
func crawl(ctx context.Context, opts *options, stdout, stderr io.Writer) int {
	errw := &cli.SyncWriter{W: stderr}
	opts.logger = opts.log.Logger(errw)
	if opts.identity != "" {
		if _, err := os.Stat(opts.identity); errors.Is(err, fs.ErrNotExist) {
			if err := cli.CheckFileDir("identity", opts.identity); err != nil {
				fmt.Fprintf(stderr, "crawler: %v\n", err)
				return exitSetupFailed
			}
		}
	}
	id, err := identity(ctx, opts, stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "crawler: interrupted while making the identity; nothing crawled")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "crawler: %v\n", err)
		return exitSetupFailed
	}
	if opts.identity != "" {
		cli.WarnIdentityPerm(opts.logger, opts.identity)
	}
	fmt.Fprintf(errw, "crawler: chain %s as %v\n", opts.chain, id.PeerID)
	c := newCrawler(opts, id, stdout)
	s := c.run(ctx)
	s.print(errw)
	if ctx.Err() != nil {
		fmt.Fprintln(errw, "crawler: interrupted; the points not probed are reported so")
		return exitInterrupted
	}
	if s.Reachable == 0 {
		return exitNoneReached
	}
	return exitOK
}

// identity loads -identity, creating it at -pow when missing, or makes a
// fresh one.
func identity(ctx context.Context, opts *options, stderr io.Writer) (*p2ppool.Identity, error) {
	diff := opts.pow
	if diff == 0 {
		diff = p2ppool.NoProofOfWork // on the command line, as in octez, 0 is none
	}
	if opts.identity != "" {
		id, err := p2ppool.LoadIdentity(opts.identity, diff)
		if !errors.Is(err, fs.ErrNotExist) {
			return id, err
		}
	}
	var progress func(uint64)
	if opts.pow > 0 {
		fmt.Fprintf(stderr, "crawler: generating an identity at difficulty %s (Ctrl-C to stop; -identity FILE keeps it for the next run)\n",
			strconv.FormatFloat(opts.pow, 'g', -1, 64))
		bar := cli.NewProgress(stderr, opts.pow)
		defer bar.Finish()
		progress = bar.Update
	}
	id, err := p2ppool.GenerateIdentity(ctx, diff, progress)
	if err != nil {
		return nil, err
	}
	if opts.identity != "" {
		if err := id.Save(opts.identity); err != nil {
			return nil, err
		}
	}
	return id, nil
}
