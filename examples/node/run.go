package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
	"github.com/p2ppool/p2ppool/tezos"
)

// Text is the node's one application message: a line of text, sent with
// tag textTag as a data-encoding string (4-byte big-endian length, then
// the UTF-8 bytes).
type Text string

const (
	// textTag is Text's application tag, clear of the P2P range.
	textTag = 0x1000
	// maxTextBody bounds a Text body on the wire (length prefix
	// included); a peer sending more loses its connection.
	maxTextBody = 64 << 10
)

// textEncoding is the Encoding of Text.
func textEncoding() p2ppool.Encoding[message] {
	return p2ppool.StringEncoding(textTag, "text", maxTextBody,
		func(s string) message { return Text(s) },
		func(m message) (string, bool) { t, ok := m.(Text); return string(t), ok })
}

// nodePool and nodeConn are the pool and connection types of the node:
// Text and distributed-DB messages, no peer metadata, octez's connection
// metadata.
type (
	nodePool = p2ppool.BasicPool[message]
	nodeConn = p2ppool.BasicConnection[message]
)

// Retries of the connections to -peer points refused or timing out.
const (
	dialAttempts     = 5
	dialFirstBackoff = 250 * time.Millisecond
	// shutdownTimeout bounds the graceful Shutdown on exit; past it the
	// remaining connections are cut.
	shutdownTimeout = 3 * time.Second
)

// runNode implements "node run": a node that listens, connects to the
// -peer points and exchanges Text messages, until ctx ends (SIGINT or
// SIGTERM in main). Lines typed on stdin are sent to every connection.
func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runNodeWithInput(ctx, args, nil, stdout, stderr)
}

// runNodeWithInput is runNode reading the lines to send from in instead
// of the process's stdin (nil means stdin). If in is an io.Closer it is
// closed when the node stops, to end a read in progress.
func runNodeWithInput(ctx context.Context, args []string, in io.Reader, stdout, stderr io.Writer) int {
	opts, code := parseRunFlags(args, stderr)
	if opts == nil {
		return code
	}
	errw := &lineWriter{w: stderr}
	if err := opts.checkFiles(); err != nil {
		fmt.Fprintf(errw, "node run: %v\n", err)
		return exitFailure
	}
	logger := opts.log.Logger(errw)
	id, code := loadOrCreateIdentity(ctx, "node run", opts.identity, opts.pow, errw)
	if id == nil {
		return code
	}
	cli.WarnIdentityPerm(logger, opts.identity)
	// octez's socket options (keep-alive, TCP user timeout), as the
	// pool's dials have by default.
	ln, err := p2ppool.ListenConfig().Listen(ctx, "tcp", opts.listen)
	if err != nil {
		fmt.Fprintf(errw, "node run: %v\n", err)
		return exitFailure
	}
	cfg := p2ppool.Config{
		Identity:          id,
		ProofOfWorkTarget: difficulty(opts.pow),
		PeersFile:         p2ppool.PeersFileConfig{Path: opts.peersFile},
		// A message of a kind the node does not know (a newer shell
		// message) is dropped, not held against the peer.
		Wire:   p2ppool.WireConfig{UnknownMessages: p2ppool.UnknownMessagesIgnore},
		Logger: logger,
	}
	opts.admission.apply(&cfg)
	if ap, ok := tcpAddrPort(ln.Addr()); ok {
		cfg.Network.ListeningPort = ap.Port()
		cfg.Network.ListeningAddr = ap.Addr()
	}
	// -chain mainnet announces the network's chain name, TEZOS_MAINNET
	// (octez lib_node_config/config_file.ml 119, 173).
	chainName := cli.ChainName(opts.chain)
	pool, err := p2ppool.NewBasic(messageConfig(chainName), cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintf(errw, "node run: %v\n", err)
		return exitFailure
	}
	n := &node{pool: pool, out: &lineWriter{w: stdout}, errw: errw, echo: opts.echo, verbose: opts.verbose, chain: chainFor(chainName),
		status: opts.status, statsAtExit: opts.stats}
	if n.shell, err = n.newShell(); err != nil {
		pool.Close()
		ln.Close()
		fmt.Fprintf(errw, "node run: %v\n", err)
		return exitFailure
	}
	pool.Conns().OnNew(n.onConnection)
	// Before "listening on": from then on SIGUSR1 prints the stats.
	sig, stopSig := cli.StatsSignal()
	defer stopSig()
	n.statsSig = sig
	fmt.Fprintf(n.errw, "node run: chain %s, id %v, %s\n", chainName, n.chain.id, n.chain.about)
	fmt.Fprintf(n.out, "listening on %v as %v\n", ln.Addr(), id.PeerID)
	return n.run(ctx, ln, opts.peers, in)
}

// runOptions are the flags of "node run".
type runOptions struct {
	identity, listen, peersFile, chain string
	peers                              []string
	pow                                float64
	echo, verbose                      bool
	status                             time.Duration // 0: no status line
	stats                              bool          // the full Stats at exit
	log                                cli.LogFlags
	admission                          admissionFlags
}

// defaultStatusInterval is how often "node run" prints its status line.
const defaultStatusInterval = 10 * time.Second

// admissionFlags are the pool's admission knobs on the command line, so
// that every attack on the pool can be replayed against a node on one
// machine (-limit-loopback applies the per-address and per-subnet bounds
// to 127.0.0.0/8). Zero means the library's default.
type admissionFlags struct {
	limitLoopback                            bool
	minConns, expectedConns, maxConns        int
	maxIncoming                              int
	maxIncomingPerAddr, maxIncomingPerSubnet int
	maxPendingPerAddr, maxPendingPerSubnet   int
}

// register declares the flags on fs.
func (a *admissionFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&a.limitLoopback, "limit-loopback", false, "apply the per-address and per-subnet bounds to loopback peers too (Config.Admission.LimitLoopback)")
	for _, f := range []struct {
		v           *int
		name, usage string
	}{
		{&a.minConns, "min-connections", "fewest connections the maintenance keeps (Config.Limits.MinConnections)"},
		{&a.expectedConns, "expected-connections", "connections the maintenance aims at (Config.Limits.ExpectedConnections)"},
		{&a.maxConns, "max-connections", "most connections (Config.Limits.MaxConnections)"},
		{&a.maxIncoming, "max-incoming", "most incoming handshakes at once (Config.Admission.MaxIncomingConnections)"},
		{&a.maxIncomingPerAddr, "max-incoming-per-addr", "most incoming connections from one address (Config.Admission.MaxIncomingPerAddr)"},
		{&a.maxIncomingPerSubnet, "max-incoming-per-subnet", "most incoming connections from one subnet (Config.Admission.MaxIncomingPerSubnet)"},
		{&a.maxPendingPerAddr, "max-pending-per-addr", "most incoming handshakes from one address (Config.Admission.MaxPendingPerAddr)"},
		{&a.maxPendingPerSubnet, "max-pending-per-subnet", "most incoming handshakes from one subnet (Config.Admission.MaxPendingPerSubnet)"},
	} {
		fs.Func(f.name, "`N`, "+f.usage+"; 0 or absent: the library's default", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a count >= 0", s)
			}
			*f.v = n
			return nil
		})
	}
}

// apply sets the knobs in cfg.
func (a *admissionFlags) apply(cfg *p2ppool.Config) {
	cfg.Admission.LimitLoopback = a.limitLoopback
	cfg.Limits.MinConnections = a.minConns
	cfg.Limits.ExpectedConnections = a.expectedConns
	cfg.Limits.MaxConnections = a.maxConns
	cfg.Admission.MaxIncomingConnections = a.maxIncoming
	cfg.Admission.MaxIncomingPerAddr = a.maxIncomingPerAddr
	cfg.Admission.MaxIncomingPerSubnet = a.maxIncomingPerSubnet
	cfg.Admission.MaxPendingPerAddr = a.maxPendingPerAddr
	cfg.Admission.MaxPendingPerSubnet = a.maxPendingPerSubnet
}

// parseRunFlags parses the command line of "node run". On failure or -h
// it returns nil and the exit code; a bad command line gets one error
// line and the hint to run with -h (cli.Parse, cli.UsageError).
func parseRunFlags(args []string, stderr io.Writer) (*runOptions, int) {
	const prog = "node run"
	var o runOptions
	flags := flag.NewFlagSet(prog, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.identity, "identity", "", "identity `FILE`, created at -pow difficulty (mode 0600) if missing")
	flags.StringVar(&o.listen, "listen", "", "`HOST:PORT` to listen on (port 0 picks a free one)")
	cli.PeerFlag(flags, &o.peers, "peer", "connect to `HOST:PORT[#PEER_ID]` (repeatable; with #PEER_ID only that peer is accepted there)")
	flags.StringVar(&o.peersFile, "peers-file", "", "peers `FILE` (Config.PeersFile.Path); its folder must exist")
	flags.Float64Var(&o.pow, "pow", p2ppool.DefaultNodeProofOfWork,
		"proof-of-work difficulty in `BITS` that peers must meet and a new identity is made at")
	flags.StringVar(&o.chain, "chain", p2ppool.DefaultChainName,
		"chain `NAME` announced, or a network (mainnet, ghostnet) whose chain name is announced; peers must announce the same")
	flags.BoolVar(&o.echo, "echo", false, "send every text received back to its sender")
	flags.BoolVar(&o.verbose, "v", false, "log the distributed-DB messages the node ignores")
	flags.DurationVar(&o.status, "status", defaultStatusInterval, "print a status line (connections, rates, refusals) every `D`; 0: never")
	flags.BoolVar(&o.stats, "stats", false, "print the pool's full Stats when the node stops (kill -USR1 prints them at any time)")
	o.log.Register(flags)
	o.admission.register(flags)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: node run -identity FILE -listen HOST:PORT [-peer HOST:PORT[#PEER_ID]]... [-peers-file FILE] [-pow BITS]")
		fmt.Fprintln(stderr, "                [-chain NAME] [-echo] [-v] [-status D] [-stats] [-log-level LEVEL] [-log-format text|json]")
		fmt.Fprintln(stderr, "                [-limit-loopback] [-max-connections N] [-max-incoming-per-addr N] [-max-incoming-per-subnet N]...")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Prints a line per connection, disconnection and text received; lines typed")
		fmt.Fprintln(stderr, "on stdin are sent to every connection. Speaks the octez shell's distributed-DB")
		fmt.Fprintln(stderr, "messages too, as an octez node: asks each peer for its branch, answers the chain's")
		fmt.Fprintln(stderr, "head, branch, checkpoint and headers (its genesis) once the peer has activated the")
		fmt.Fprintln(stderr, "chain, and prints the heads and branches peers announce. Prints a status line")
		fmt.Fprintln(stderr, "every -status on stderr, the full Stats on SIGUSR1. Stop with Ctrl-C.")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 failure, 2 bad command line.")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if code, ok := cli.Parse(flags, args); !ok {
		return nil, code
	}
	switch {
	case flags.NArg() > 0:
		return nil, cli.UsageError(stderr, prog, "unexpected argument %q", flags.Arg(0))
	case o.identity == "" || o.listen == "":
		return nil, cli.UsageError(stderr, prog, "-identity and -listen are required")
	case math.IsNaN(o.pow) || o.pow < 0 || o.pow > 256:
		return nil, cli.UsageError(stderr, prog, "-pow must be between 0 and 256, got %v", o.pow)
	case o.chain == "":
		return nil, cli.UsageError(stderr, prog, "-chain must not be empty")
	case o.status < 0:
		return nil, cli.UsageError(stderr, prog, "-status must not be negative")
	}
	return &o, exitOK
}

// checkFiles checks at start what would otherwise fail late: the folder
// of a -peers-file (saved at shutdown) and of an -identity to create.
// Errors name the flag and the file as given.
func (o *runOptions) checkFiles() error {
	if o.peersFile != "" {
		if err := cli.CheckFileDir("peers-file", o.peersFile); err != nil {
			return err
		}
	}
	if _, err := os.Stat(o.identity); errors.Is(err, fs.ErrNotExist) {
		return cli.CheckFileDir("identity", o.identity)
	}
	return nil
}

// loadOrCreateIdentity loads the identity at path, checking that it meets
// pow, or creates it at difficulty pow when the file does not exist. On
// failure it returns nil and the exit code; cmd ("node run") prefixes its
// messages.
func loadOrCreateIdentity(ctx context.Context, cmd, path string, pow float64, stderr io.Writer) (*p2ppool.Identity, int) {
	id, err := p2ppool.LoadIdentity(path, difficulty(pow))
	if errors.Is(err, fs.ErrNotExist) {
		id, err = createIdentity(ctx, path, pow, stderr)
		if errors.Is(err, p2ppool.ErrIdentityExists) { // created meanwhile by someone else
			id, err = p2ppool.LoadIdentity(path, difficulty(pow))
		}
		if err != nil && ctx.Err() != nil {
			fmt.Fprintf(stderr, "%s: interrupted, no identity written\n", cmd)
			return nil, exitInterrupted
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil, exitFailure
	}
	return id, exitOK
}

// node is a running "node run": its pool and the goroutines it owns.
type node struct {
	pool *nodePool
	out  *lineWriter // stdout: connections, disconnections, texts
	errw *lineWriter // stderr: diagnostics
	echo bool
	// verbose logs ignored messages (-v).
	verbose bool
	// chain is the chain the node serves; shell its behaviour towards
	// peers (a Session per connection).
	chain chainState
	shell *tezos.Shell
	// status is the interval of the status line (0: none); statsAtExit
	// prints the full Stats when the node stops (-stats); statsSig
	// receives SIGUSR1. connections counts the connections made.
	status      time.Duration
	statsAtExit bool
	statsSig    <-chan os.Signal
	connections atomic.Uint64
	// readers counts the per-connection reader goroutines started by
	// onConnection. Hooks only run inside the pool's own goroutines, so
	// once the pool is closed no reader can be added and Wait is safe.
	readers sync.WaitGroup
}

// run serves ln, dials peers and sends the lines read from in until ctx
// ends or serving fails, then shuts the pool down and waits for every
// goroutine it started.
func (n *node) run(ctx context.Context, ln net.Listener, peers []string, in io.Reader) int {
	code := exitOK
	start := time.Now()
	serveErr := make(chan error, 1)
	go func() { serveErr <- n.pool.Serve(ln) }()
	monitorCtx, stopMonitor := context.WithCancel(context.Background())
	var monitor sync.WaitGroup
	monitor.Go(func() { n.monitor(monitorCtx, n.statsSig) })

	// Dialers stop with dialCtx; the input reader when interrupted.
	dialCtx, stop := context.WithCancel(ctx)
	var dialers sync.WaitGroup
	for _, peer := range peers {
		dialers.Go(func() { n.dial(dialCtx, peer) })
	}
	input := openInput(in)
	inputDone := make(chan struct{})
	go func() {
		defer close(inputDone)
		n.sendLines(input.r)
	}()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fmt.Fprintf(n.errw, "node run: %v\n", err)
		serveErr <- err // for the wait below
		code = exitFailure
	}
	stop()
	dialers.Wait()
	input.interrupt()
	if input.waitable {
		<-inputDone
	}

	stopMonitor()
	monitor.Wait()
	final := n.pool.Stats() // before Shutdown, which ends the connections
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	if err := n.pool.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(n.errw, "node run: shutdown: %v; remaining connections cut\n", err)
	}
	cancel()
	<-serveErr
	n.readers.Wait()
	if !input.waitable {
		// A read of a terminal that cannot be interrupted: the reader
		// gets up to a moment to notice, then is left to process exit.
		select {
		case <-inputDone:
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintln(n.errw, summary(final, time.Since(start), n.connections.Load()))
	if n.statsAtExit {
		fmt.Fprintf(n.errw, "node run: stats: %v\n", final)
	}
	return code
}

// onConnection is the pool's new-connection hook: it announces the
// connection and starts its reader.
func (n *node) onConnection(c *nodeConn) {
	n.connections.Add(1)
	fmt.Fprintf(n.out, "connected %v %v %s\n", c.Peer(), connPoint(c), direction(c))
	n.readers.Go(func() { n.readMessages(c) })
}

// readMessages prints the texts received on c, echoing them back with
// -echo, until the connection ends; then it prints why.
func (n *node) readMessages(c *nodeConn) {
	// As octez, ask for the branch of the chain first: the peer then
	// takes our heads and branches (p2p_reader.ml 806-820).
	session := n.shell.Attach(shellConn{c})
	if err := session.Start(c.Context()); err != nil {
		n.debugf("node run: %v", err)
	}
	for {
		m, err := c.Read(context.Background()) // ends when c does
		if err != nil {
			fmt.Fprintf(n.out, "disconnected %v %v %s: %s\n", c.Peer(), connPoint(c), direction(c), disconnectReason(err))
			return
		}
		switch m := m.(type) {
		case Text:
			fmt.Fprintf(n.out, "text from %v: %s\n", c.Peer(), m)
			if n.echo {
				// Write waits for room in the outgoing queue and fails
				// once the connection has ended, which the next Read
				// reports.
				_ = c.Write(context.Background(), m)
			}
		case tezos.Message:
			n.onShell(c, session, m)
		}
	}
}

// dial connects to addr, retrying with exponential backoff while the
// point refuses or times out, up to dialAttempts attempts.
func (n *node) dial(ctx context.Context, addr string) {
	dialWithRetry(ctx, "node run", addr, n.errw, func(ctx context.Context, addr string) error {
		// HOST:PORT, [v6]:PORT or a name, optionally #peer_id.
		_, err := n.pool.ConnectPoint(ctx, addr)
		return err
	})
}

// dialWithRetry calls connect(ctx, addr), retrying with exponential
// backoff while the point refuses or times out, up to dialAttempts
// attempts; it reports each failure on errw, prefixed with cmd. It
// returns connect's last error, nil once connected (or already).
func dialWithRetry(ctx context.Context, cmd, addr string, errw io.Writer, connect func(context.Context, string) error) error {
	backoff := dialFirstBackoff
	for attempt := 1; ; attempt++ {
		err := connect(ctx, addr)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil || errors.Is(err, p2ppool.ErrPoolClosed):
			return err
		case errors.Is(err, p2ppool.ErrAlreadyConnected):
			fmt.Fprintf(errw, "%s: %s: already connected\n", cmd, addr)
			return nil
		}
		retry := errors.Is(err, p2ppool.ErrConnectionFailed) || errors.Is(err, p2ppool.ErrTimeout) ||
			errors.Is(err, p2ppool.ErrPendingConnection)
		if !retry || attempt == dialAttempts {
			fmt.Fprintf(errw, "%s: %s: %v (attempt %d/%d, giving up)\n", cmd, addr, err, attempt, dialAttempts)
			return err
		}
		fmt.Fprintf(errw, "%s: %s: %v (attempt %d/%d, retrying in %v)\n", cmd, addr, err, attempt, dialAttempts, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff *= 2
	}
}

// sendLines sends each non-empty line of r to every connection. The end
// of r (CI runs without a stdin) only ends this; the node goes on.
func (n *node) sendLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxTextBody-4)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		k, err := n.pool.WriteAll(Text(line))
		switch {
		case errors.Is(err, p2ppool.ErrPoolClosed):
			return
		case err != nil:
			fmt.Fprintf(n.errw, "node run: send: %v\n", err)
		default:
			fmt.Fprintf(n.errw, "node run: sent to %d connection(s)\n", k)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) &&
		!errors.Is(err, os.ErrDeadlineExceeded) {
		fmt.Fprintf(n.errw, "node run: stdin: %v; no longer reading it\n", err)
	}
}

// input is where the lines to send come from, and how to stop reading
// them.
type input struct {
	r io.Reader
	// interrupt makes a pending or future read of r fail.
	interrupt func()
	// waitable: after interrupt, the reader goroutine ends promptly.
	waitable bool
}

// openInput returns the lines' source: in if not nil, else the process's
// stdin. A read of os.Stdin blocks in the kernel and cannot be
// interrupted, so on Linux a terminal or pipe on stdin is opened again
// through /dev/stdin: the new file is non-blocking (a new file
// description, so the shell's stays as it is) and Close interrupts its
// reads. Elsewhere the reader may outlive run until the process exits.
func openInput(in io.Reader) input {
	if in != nil {
		c, ok := in.(io.Closer)
		if !ok {
			return input{r: in, interrupt: func() {}, waitable: true}
		}
		return input{r: in, interrupt: func() { c.Close() }, waitable: true}
	}
	if fi, err := os.Stdin.Stat(); err == nil && runtime.GOOS == "linux" &&
		fi.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) != 0 {
		if f, err := os.Open("/dev/stdin"); err == nil {
			if f.SetReadDeadline(time.Time{}) == nil { // pollable: reads can be interrupted
				return input{r: f, interrupt: func() { f.Close() }, waitable: true}
			}
			f.Close()
		}
	}
	return input{r: os.Stdin, interrupt: func() {}, waitable: false}
}

// lineWriter serialises writes to w, so lines written by different
// goroutines do not interleave. Each Fprintf to it must be one whole line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// connPoint is the peer's listening point, or its transport address when
// it announced no port.
func connPoint(c *nodeConn) string {
	info := c.Info()
	if info.Point.IsValid() {
		return info.Point.String()
	}
	return info.RemoteAddr.String()
}

func direction(c *nodeConn) string {
	if c.Info().Incoming {
		return "in"
	}
	return "out"
}

// disconnectReason is the reason in a *p2ppool.DisconnectError, with the
// underlying error when it says more.
func disconnectReason(err error) string {
	var de *p2ppool.DisconnectError
	if !errors.As(err, &de) {
		return err.Error()
	}
	switch de.Reason {
	case p2ppool.ReasonReadError, p2ppool.ReasonWriteError, p2ppool.ReasonProtocolError:
		if de.Err != nil {
			return fmt.Sprintf("%v (%v)", de.Reason, de.Err)
		}
	}
	return de.Reason.String()
}

// tcpAddrPort returns the address and port of a TCP listener's address.
func tcpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// difficulty is the library's difficulty for the -pow flag: on the
// command line, as in octez, 0 means no proof of work; in the library a
// zero difficulty means the default, and none has its own name.
func difficulty(pow float64) float64 {
	if pow == 0 {
		return p2ppool.NoProofOfWork
	}
	return pow
}
