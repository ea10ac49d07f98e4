// Command swarm is p2ppool's demo: it starts a swarm of nodes in one
// process on loopback, each knowing a single bootstrap peer, lets them
// find each other with Bootstrap and Advertise messages until each has
// its target number of connections, has them gossip text messages, and
// shows a live table of connections and traffic.
//
//	go run ./examples/swarm [-nodes 16] [-duration 10s] [-target 4] [-rate 20] [-cap 0] [-until-target] [-json] [-svg FILE] [-dot FILE]
//
// With -svg or -dot it writes a picture of the graph of connections when
// the swarm ends (topology.go).
//
// It exits 0 when, at the end, every node has a connection and the graph
// of connections is connected.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/examples/internal/cli"
	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// Exit codes.
const (
	exitOK          = 0
	exitNotAllGood  = 1 // the swarm did not connect
	exitUsage       = 2
	exitSetupFailed = 3
)

// Tunables of the demo.
const (
	defaultTarget  = 4
	discoverMin    = 100 * time.Millisecond // discovery round period, jittered
	discoverJitter = 100 * time.Millisecond
	// discoverMaxBackoff is the longest extra wait of a node whose
	// discovery rounds gain nothing (see discover).
	discoverMaxBackoff = 3200 * time.Millisecond
	dialsPerRound      = 3
	// dialTimeout bounds each dial of the discovery loop, and
	// handshakeTimeout is the pools' Timeouts.Connection and
	// Timeouts.Authentication. One second was plenty for 16 nodes but not
	// for 10,000 on 2 shared cores (-net mem): there, 80% of the dials
	// ran out of time waiting for the connection message, and every
	// failure left the far end a dead handshake, so that in 4 minutes
	// only 60% of the nodes reached their target; with 5 s they all did
	// in 51 s.
	dialTimeout      = 5 * time.Second
	handshakeTimeout = 5 * time.Second
	// shutdownTimeout is the graceful shutdown's deadline for a small
	// swarm; shutdownPerNode is added for each node, since the pools all
	// shut down at once on the same cores: at 30,000 nodes 5 s in all
	// left 12,000 to 21,000 of them reporting context deadline exceeded.
	shutdownTimeout = 5 * time.Second
	shutdownPerNode = time.Millisecond
	settleTimeout   = time.Second
	ttyRefresh      = 250 * time.Millisecond
	// convergeCheck is how often -until-target checks whether the swarm
	// has converged, once every node has reached its target.
	convergeCheck = 250 * time.Millisecond
	pipeRefresh   = time.Second
	// memPort is where every node listens with -net mem, each on a host
	// of its own; maxMemNodes is how many hosts p2ppooltest.NewHost has.
	memPort     = 9732
	maxMemNodes = 1 << 16
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	nodes, target int
	net           string // "tcp" (loopback) or "mem" (p2ppooltest)
	duration      time.Duration
	rate          float64
	cap           int64 // per-node upload cap, bytes per second; 0: none
	json          bool
	memProfile    string // -memprofile: a heap profile taken before shutdown
	memLimit      int64  // -memlimit: the Go runtime's soft memory limit, bytes; 0: none
	untilTarget   bool   // stop early once every node has reached its target
	topo          topoFlags
	log           cli.LogFlags
	logger        *slog.Logger // the nodes' Config.Logger, made from log in run
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	var o options
	flags := flag.NewFlagSet("swarm", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.IntVar(&o.nodes, "nodes", 16, "number of nodes, at least 2")
	flags.IntVar(&o.nodes, "n", 16, "short for -nodes")
	flags.StringVar(&o.net, "net", "tcp", "the network: tcp (loopback sockets) or mem (in-memory, a host of its own per node)")
	flags.DurationVar(&o.duration, "duration", 10*time.Second, "how long the swarm runs")
	flags.BoolVar(&o.untilTarget, "until-target", false, "stop as soon as every node is at its target and the graph is connected (-duration is then the longest run)")
	flags.BoolVar(&o.json, "json", false, "no live table; print one JSON object per node at the end")
	flags.IntVar(&o.target, "target", 0,
		fmt.Sprintf("connections each node seeks (default %d, or nodes-1 if smaller)", defaultTarget))
	flags.Float64Var(&o.rate, "rate", 20, "text messages per second each node gossips (0: none)")
	flags.Int64Var(&o.cap, "cap", 0, "per-node upload cap in bytes per second, shared by its connections (0: unlimited)")
	flags.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (`FILE`, for go tool pprof) when the swarm ends, before shutdown")
	flags.Int64Var(&o.memLimit, "memlimit", 0, "a soft memory limit for the Go runtime in `BYTES` (debug.SetMemoryLimit, as GOMEMLIMIT): the GC works harder near it; 0: none")
	o.topo.register(flags)
	o.log.Register(flags)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: swarm [-nodes N] [-net tcp|mem] [-duration D] [-target N] [-rate R] [-cap BYTES] [-until-target] [-json] [-svg FILE] [-dot FILE]")
		fmt.Fprintln(stderr, "             [-memprofile FILE] [-memlimit BYTES] [-log-level LEVEL] [-log-format text|json]")
		fmt.Fprintln(stderr)
		flags.PrintDefaults()
	}
	if code, ok := cli.Parse(flags, args); !ok {
		return nil, code
	}
	if o.target == 0 {
		o.target = min(defaultTarget, o.nodes-1)
	}
	switch {
	case flags.NArg() > 0:
		return nil, cli.UsageError(stderr, "swarm", "unexpected argument %q", flags.Arg(0))
	case o.nodes < 2:
		return nil, cli.UsageError(stderr, "swarm", "-nodes must be at least 2")
	case o.net != "tcp" && o.net != "mem":
		return nil, cli.UsageError(stderr, "swarm", "-net must be tcp or mem, not %q", o.net)
	case o.net == "mem" && o.nodes > maxMemNodes:
		return nil, cli.UsageError(stderr, "swarm", "-net mem takes at most %d nodes", maxMemNodes)
	case o.duration <= 0:
		return nil, cli.UsageError(stderr, "swarm", "-duration must be positive")
	case o.target < 1 || o.target > o.nodes-1:
		return nil, cli.UsageError(stderr, "swarm", "-target must be between 1 and nodes-1 (%d)", o.nodes-1)
	case !(o.rate >= 0 && o.rate <= 10000):
		return nil, cli.UsageError(stderr, "swarm", "-rate must be between 0 and 10000")
	case o.cap < 0:
		return nil, cli.UsageError(stderr, "swarm", "-cap must not be negative")
	case o.memLimit < 0:
		return nil, cli.UsageError(stderr, "swarm", "-memlimit must not be negative")
	}
	return &o, exitOK
}

// run is main without the process globals, for tests: it runs the swarm
// until -duration has passed or ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The nodes' loggers and the view both write to stderr, from
	// different goroutines.
	stderr = &cli.SyncWriter{W: stderr}
	opts, code := parseFlags(args, stderr)
	if opts == nil {
		return code
	}
	if err := opts.topo.check(); err != nil {
		fmt.Fprintf(stderr, "swarm: %v\n", err)
		return exitUsage
	}
	opts.logger = opts.log.Logger(stderr)
	if opts.memLimit > 0 {
		// A tuning for simulations, not a cut: the garbage collector's
		// goal counts goroutine stacks, so at 10,000 nodes (0.9 GB of
		// stacks) the heap may grow by as much again in garbage before a
		// collection; the limit makes the collector run before that.
		// The process's previous limit (GOMEMLIMIT) is put back at the
		// end, for tests that call run.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(opts.memLimit))
	}
	s, err := newSwarm(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "swarm: %v\n", err)
		return exitSetupFailed
	}
	s.start()
	view := newView(s, stdout, stderr)
	interrupted := view.live(ctx, opts.duration)
	elapsed := time.Since(s.started)

	s.stopLoops()
	s.settle(settleTimeout)
	final := s.snapshot() // connections as they were, before shutdown
	final.proc = measureProcess()
	if opts.memProfile != "" {
		if err := writeHeapProfile(opts.memProfile); err != nil {
			fmt.Fprintf(stderr, "swarm: %v\n", err)
		}
	}
	var topo topology
	if opts.topo.wanted() {
		topo = s.topology(final)
	}
	if err := s.shutdown(); err != nil {
		fmt.Fprintf(stderr, "swarm: %v\n", err)
	}
	s.updateCounters(final) // traffic including what drained at shutdown

	if opts.json {
		enc := json.NewEncoder(stdout)
		for _, st := range final.nodes {
			enc.Encode(st)
		}
	} else {
		view.final(final)
	}
	report := stdout
	if opts.json {
		report = stderr // stdout carries only the JSON lines
	}
	ok := s.summary(report, final, elapsed, interrupted)
	if err := opts.topo.write(topo, report); err != nil {
		fmt.Fprintf(stderr, "swarm: %v\n", err)
		return exitSetupFailed
	}
	if !ok {
		return exitNotAllGood
	}
	return exitOK
}

// Text is the swarm's one application message (tag 0x1000, a
// data-encoding string).
type Text string

type (
	swarmPool = p2ppool.BasicPool[Text]
	swarmConn = p2ppool.BasicConnection[Text]
)

func messages() p2ppool.MessageConfig[Text] {
	return p2ppool.MessageConfig[Text]{
		Encodings: []p2ppool.Encoding[Text]{p2ppool.StringEncoding(0x1000, "text", 1<<10,
			func(s string) Text { return Text(s) },
			func(m Text) (string, bool) { return string(m), true })},
		ChainName: "P2PPOOL_SWARM",
	}
}

// swarm is the set of nodes and the goroutines that drive them.
type swarm struct {
	opts    *options
	nodes   []*node
	byPeer  map[p2ppool.PeerID]int // node index by peer id
	started time.Time

	// loops are the discovery and gossip goroutines, stopped by
	// stopLoops; servers the Serve goroutines, ended by shutdown.
	loopCtx context.Context
	stop    context.CancelFunc
	loops   sync.WaitGroup
	// roundsMu guards roundsStopped and each node's discovery timer
	// (node.rounds): discovery rounds run on timers, counted in loops
	// (discover).
	roundsMu      sync.Mutex
	roundsStopped bool
	servers       sync.WaitGroup
	serveErr      []error // by node, set when its Serve returns

	// atTarget counts the nodes that have reached their target;
	// allAtTarget is closed when the last one does.
	atTarget    atomic.Int32
	allAtTarget chan struct{}
	// convergedAt is when converged first found every node at its
	// target and the graph connected, since started; 0 if never. Owned
	// by the view's goroutine.
	convergedAt time.Duration
}

// node is one pool of the swarm with its listener and counters.
type node struct {
	idx   int
	pool  *swarmPool
	ln    net.Listener
	point netip.AddrPort // where it listens; never dialled by itself
	// bootstrap is the previous node's point, the one it knows at
	// start; invalid for node 0.
	bootstrap netip.AddrPort
	// neighbours are its neighbours in the bootstrap chain (chain): the
	// node before it and the node after it, trusted, and dialled again
	// by the discovery loop whenever their link is lost.
	neighbours []netip.AddrPort
	dialer     p2ppool.Dialer // its host with -net mem; nil on tcp
	target     int
	max        int // its MaxConnections
	start      time.Time

	// Application-level counters: Text messages read, and queued for
	// sending (one per connection a WriteAll reached).
	msgsIn, msgsOut atomic.Uint64
	dials, failures atomic.Uint64
	// chainDials counts the redials of lost chain links, chainFails
	// their failures by kind (chainFailKind).
	chainDials atomic.Uint64
	chainFails [numChainFails]atomic.Uint64
	// reached is when Conns().Len() first reached the target, as a
	// duration since start plus one; 0 while it has not.
	reached atomic.Int64
	// onReached runs once, when reached is set.
	onReached func()

	mu sync.Mutex
	// Guarded by mu: the connections not yet seen ended, and the P2P
	// bytes of those seen ended.
	live                map[*swarmConn]struct{}
	bytesIn0, bytesOut0 uint64

	// rounds fires the node's next discovery round; armed says it is
	// set and its round has not begun. Guarded by the swarm's roundsMu.
	rounds *time.Timer
	armed  bool
	// backoff is the extra wait after the last round (nextBackoff),
	// used by one round at a time.
	backoff time.Duration

	// reader is the node's one reader goroutine (read): one per node,
	// not one per connection, which at 10,000 nodes is 60,000 fewer
	// goroutines.
	reader sync.WaitGroup
}

// newSwarm creates the nodes: identities without proof of work, a
// listener each (on loopback, or with -net mem on a host of its own of an
// in-memory network, so that per-address limits and greylists apply to
// one node as on a real network), and pools whose one trusted point, the
// bootstrap peer, is the previous node.
func newSwarm(ctx context.Context, o *options) (*swarm, error) {
	var nw *p2ppooltest.Network
	if o.net == "mem" {
		nw = p2ppooltest.NewNetwork(p2ppooltest.Config{})
	}
	s := &swarm{opts: o, byPeer: make(map[p2ppool.PeerID]int), serveErr: make([]error, o.nodes), allAtTarget: make(chan struct{})}
	cleanup := func() {
		for _, n := range s.nodes {
			if n.pool != nil {
				n.pool.Close()
			}
			n.ln.Close() // not served yet: the pool does not own it
		}
	}
	for i := range o.nodes {
		var (
			ln     net.Listener
			dialer p2ppool.Dialer // nil: the pool's default, p2ppool.NewDialer
			err    error
		)
		if nw != nil {
			h := nw.NewHost()
			ln, err = h.Listen("tcp", net.JoinHostPort(h.Addr().String(), strconv.Itoa(memPort)))
			dialer = h
		} else {
			// octez's socket options, as the pool's default Dialer has.
			ln, err = p2ppool.ListenConfig().Listen(ctx, "tcp", "127.0.0.1:0")
		}
		if err != nil {
			cleanup()
			return nil, err
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		n := &node{idx: i, ln: ln, point: ap, dialer: dialer, target: o.target, max: 2*o.target + 2, live: make(map[*swarmConn]struct{}), onReached: s.nodeReached}
		if i > 0 {
			n.bootstrap = s.nodes[i-1].point
		}
		s.nodes = append(s.nodes, n)
	}
	for i, n := range s.nodes {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
		if err != nil {
			cleanup()
			return nil, err
		}
		cfg := p2ppool.Config{
			Logger:            nodeLogger(o.logger, i),
			Identity:          id,
			Dialer:            n.dialer,
			ProofOfWorkTarget: p2ppool.NoProofOfWork,
			Network:           p2ppool.NetworkConfig{ListeningPort: n.point.Port(), ListeningAddr: n.point.Addr()},
			// Nodes seek target connections and accept up to about twice
			// as many, so that nodes still looking find room at nodes that
			// are done: with max = target no node would take a
			// connection past its own target and late nodes could starve.
			Limits: p2ppool.Limits{
				MinConnections:      o.target,
				ExpectedConnections: o.target + 2,
				MaxConnections:      n.max,
				MaxUploadSpeed:      o.cap, // wire bytes, shared by the node's connections
			},
			Admission: p2ppool.AdmissionConfig{MaxIncomingConnections: max(20, o.nodes)},
			Timeouts:  p2ppool.TimeoutConfig{Connection: handshakeTimeout, Authentication: handshakeTimeout},
			// The demo's discovery asks every 100–200 ms (discover), far
			// faster than octez's 5 s: its peers answer each time rather
			// than ignore the asks and, in the end, take the asker for a
			// flooder.
			Control: p2ppool.ControlConfig{
				Bootstrap: p2ppool.RateLimit{Rate: 1 / discoverMin.Seconds(), Burst: 10},
				Advertise: p2ppool.RateLimit{Rate: 1 / discoverMin.Seconds(), Burst: 10},
			},
		}
		if o.cap > 0 {
			// Capped, a connection's outgoing queue holds about a quarter
			// second of the node's upload, not the default 8 MiB: past
			// that WriteAll drops, and the backlog drains in moments at
			// the end instead of outlasting the shutdown timeout.
			cfg.Limits.OutgoingMessageQueueSize = int(min(max(o.cap/4, 1<<10), p2ppool.DefaultOutgoingMessageQueueSize))
		}
		// The bootstrap peer, a trusted point as octez makes of its
		// bootstrap peers: the discovery loop dials it first thing and
		// redials it whenever it is lost (discover). The next node, whose
		// bootstrap peer this one is, is trusted too: a pool never
		// evicts a trusted connection to make room for a newcomer, nor
		// drops one to come back under its target, so the chain of
		// bootstrap links, which alone connects the swarm at the start,
		// stays. Without it a full node evicts its quietest incoming
		// connection for each newcomer (with -rate 0 all are quiet, and
		// the oldest, the chain's links, go first), and at 2,000 nodes
		// the swarm ended as 12 islands, each meeting its targets.
		n.neighbours = n.chain(s.nodes)
		cfg.Network.TrustedPoints = n.neighbours
		pool, err := p2ppool.NewBasic(messages(), cfg)
		if err != nil {
			cleanup()
			return nil, err
		}
		n.pool = pool
		pool.Conns().OnNew(n.onConnection)
		s.byPeer[id.PeerID] = i
	}
	return s, nil
}

// chain returns the points of n's neighbours in the bootstrap chain:
// the node before it (its bootstrap peer) and the node after it (whose
// bootstrap peer it is).
func (n *node) chain(nodes []*node) []netip.AddrPort {
	var pts []netip.AddrPort
	if n.idx > 0 {
		pts = append(pts, nodes[n.idx-1].point)
	}
	if n.idx+1 < len(nodes) {
		pts = append(pts, nodes[n.idx+1].point)
	}
	return pts
}

// start serves every listener and starts the discovery and gossip loops.
func (s *swarm) start() {
	s.loopCtx, s.stop = context.WithCancel(context.Background())
	s.serve()
	for _, n := range s.nodes {
		n.reader.Go(n.read)
		s.discover(n)
		if s.opts.rate > 0 {
			s.loops.Go(func() { n.gossip(s.loopCtx, s.opts.rate) })
		}
	}
}

// serve starts the clock and every node's listener. Every node's start
// is set first: a node's connections, which its listener may take as
// soon as the next node's loops run, are timed from it.
func (s *swarm) serve() {
	s.started = time.Now()
	for _, n := range s.nodes {
		n.start = s.started
	}
	for i, n := range s.nodes {
		s.servers.Go(func() {
			if err := n.pool.Serve(n.ln); !errors.Is(err, p2ppool.ErrPoolClosed) {
				s.serveErr[i] = err
			}
		})
	}
}

// stopLoops stops discovery and gossip and waits for them. A discovery
// round whose timer fired too late to be stopped is counted in s.loops
// here, and ends as soon as it sees the rounds stopped.
func (s *swarm) stopLoops() {
	s.stop()
	s.roundsMu.Lock()
	s.roundsStopped = true
	for _, n := range s.nodes {
		if n.armed && !n.rounds.Stop() {
			s.loops.Add(1)
		}
		n.armed = false
	}
	s.roundsMu.Unlock()
	s.loops.Wait()
}

// settle waits, up to timeout, until every message queued has been read
// by its receiver, so that the totals add up: the nodes shut down at once,
// and each hangs up without reading what is still on its way to it.
func (s *swarm) settle(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var in, out uint64
		for _, n := range s.nodes {
			in += n.msgsIn.Load()
			out += n.msgsOut.Load()
		}
		if in >= out {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shutdownDeadline is how long a swarm of n nodes gives its pools to
// shut down gracefully: it grows with n.
func shutdownDeadline(n int) time.Duration {
	return shutdownTimeout + time.Duration(n)*shutdownPerNode
}

// shutdown shuts every pool down at once, gracefully within
// shutdownDeadline, and waits for every goroutine of the swarm.
func (s *swarm) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline(len(s.nodes)))
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(s.nodes))
	for i, n := range s.nodes {
		wg.Go(func() {
			if err := n.pool.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("node %d: shutdown: %w", i, err)
			}
		})
	}
	wg.Wait()
	s.servers.Wait()
	for i, n := range s.nodes {
		n.reader.Wait()
		if s.serveErr[i] != nil {
			errs = append(errs, fmt.Errorf("node %d: serve: %w", i, s.serveErr[i]))
		}
	}
	return errors.Join(errs...)
}

// converged reports whether every node is at its target and the graph
// of connections is connected, and notes when it first was. It reads
// each node's connections once: at 30,000 nodes, a few tens of
// milliseconds.
func (s *swarm) converged() bool {
	uf := newUnionFind(len(s.nodes))
	for i, n := range s.nodes {
		k := 0
		for _, c := range n.pool.Conns().All() {
			k++
			if j, ok := s.byPeer[c.Peer()]; ok {
				uf.union(i, j)
			}
		}
		if k < n.target {
			return false
		}
	}
	if uf.sets != 1 {
		return false
	}
	if s.convergedAt == 0 {
		s.convergedAt = time.Since(s.started)
	}
	return true
}

// unionFind is a disjoint-set forest over 0..n-1 that counts its sets.
type unionFind struct {
	parent []int32
	sets   int
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), sets: n}
	for i := range u.parent {
		u.parent[i] = int32(i)
	}
	return u
}

func (u *unionFind) find(i int) int {
	for int(u.parent[i]) != i {
		u.parent[i] = u.parent[u.parent[i]] // path halving
		i = int(u.parent[i])
	}
	return i
}

func (u *unionFind) union(i, j int) {
	if a, b := u.find(i), u.find(j); a != b {
		u.parent[a] = int32(b)
		u.sets--
	}
}

// nodeReached counts a node that reached its target.
func (s *swarm) nodeReached() {
	if int(s.atTarget.Add(1)) == len(s.nodes) {
		close(s.allAtTarget)
	}
}

// onConnection is each pool's new-connection hook: it notes the
// connection, whose bytes count, and whether the node reached its target.
func (n *node) onConnection(c *swarmConn) {
	n.mu.Lock()
	n.live[c] = struct{}{}
	n.mu.Unlock()
	if n.pool.Conns().Len() >= n.target {
		if n.reached.CompareAndSwap(0, int64(time.Since(n.start))+1) {
			n.onReached()
		}
	}
}

// read counts the messages of all the node's connections (Pool.Read,
// octez recv_any) until the pool closes.
func (n *node) read() {
	for {
		if _, _, err := n.pool.Read(context.Background()); err != nil { // ErrPoolClosed
			return
		}
		n.msgsIn.Add(1)
	}
}

// bytes returns the P2P plaintext bytes received and sent over all the
// node's connections, ended ones included: those that ended are counted
// once and forgotten.
func (n *node) bytes() (in, out uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	in, out = n.bytesIn0, n.bytesOut0
	for c := range n.live {
		st := c.Stat()
		select {
		case <-c.Done(): // its goroutines are done: st is final
			n.bytesIn0 += st.BytesRecv
			n.bytesOut0 += st.BytesSent
			delete(n.live, c)
		default:
		}
		in += st.BytesRecv
		out += st.BytesSent
	}
	return in, out
}

// discover starts the demo's own discovery, faster than the pool's
// maintenance (which also runs, every 120 s and when the count crosses
// its bounds): every 100–200 ms, while the node has fewer connections than
// its target, a round asks its peers for points (Bootstrap; they answer
// with Advertise) and dials a few known points it is not connected to.
//
// A round that gains no connection doubles the wait before the next, up
// to discoverMaxBackoff: at 16 nodes a round rarely fails, but at 30,000
// on 2 cores the nodes still looking would ask and dial so often that
// handshakes time out for want of CPU, every failure making more rounds.
//
// The first round runs at once, and each next one once the last has ended
// and its wait has passed. A round runs on its timer's goroutine, counted in
// s.loops; between rounds the node runs no discovery goroutine, which at
// 10,000 nodes is 10,000 goroutines and their stacks fewer.
func (s *swarm) discover(n *node) {
	// Armed before the first round can begin: it waits for roundsMu.
	s.roundsMu.Lock()
	defer s.roundsMu.Unlock()
	n.armed = true
	n.rounds = time.AfterFunc(0, func() {
		s.roundsMu.Lock()
		n.armed = false
		if s.roundsStopped {
			// Counted for this call by stopLoops.
			s.roundsMu.Unlock()
			s.loops.Done()
			return
		}
		s.loops.Add(1)
		s.roundsMu.Unlock()
		defer s.loops.Done()
		wait := n.discoverRound(s.loopCtx)
		s.roundsMu.Lock()
		if !s.roundsStopped {
			n.rounds.Reset(wait)
			n.armed = true
		}
		s.roundsMu.Unlock()
	})
}

// discoverRound is one discovery round; it returns the wait before the
// next.
func (n *node) discoverRound(ctx context.Context) time.Duration {
	// A lost link of the chain (a swap gave it up: octez's swap
	// spares no connection) is dialled again first, by its later
	// node, whatever the node's count, both ends making room if
	// they are full (redialChain): the chain's links are what keep
	// the swarm one graph rather than islands that each meet their
	// targets.
	lost := n.redialChain(ctx)
	before := n.pool.Conns().Len()
	switch {
	case before < n.target:
		n.pool.BroadcastBootstrap()
		n.dialSome(ctx)
		n.backoff = nextBackoff(n.backoff, n.pool.Conns().Len() > before)
	case lost > 0:
		n.backoff = nextBackoff(n.backoff, n.chainLost() < lost)
	default:
		n.backoff = 0
	}
	return discoverMin + rand.N(discoverJitter) + n.backoff
}

// nextBackoff is the extra wait after a discovery round: none after a
// round that gained a connection, else double the last (discoverMin the
// first time), at most discoverMaxBackoff.
func nextBackoff(last time.Duration, progressed bool) time.Duration {
	if progressed {
		return 0
	}
	return min(max(2*last, discoverMin), discoverMaxBackoff)
}

// dialSome connects to up to dialsPerRound known, disconnected points.
// Failures are expected and only counted: the point may be full
// (TooManyConnections nack), already connected to us under another
// handshake, or being dialled by us at the same time.
func (n *node) dialSome(ctx context.Context) {
	// A uniform sample of dialsPerRound candidates (reservoir sampling),
	// without a list of all the node's known points each round.
	var cands [dialsPerRound]netip.AddrPort
	seen := 0
	for pt, info := range n.pool.Points().All() {
		if info.State != p2ppool.PointDisconnected || pt == n.point {
			continue
		}
		if seen < dialsPerRound {
			cands[seen] = pt
		} else if k := rand.N(seen + 1); k < dialsPerRound {
			cands[k] = pt
		}
		seen++
	}
	for _, pt := range cands[:min(seen, dialsPerRound)] {
		if n.pool.Conns().Len() >= n.target || ctx.Err() != nil {
			return
		}
		n.dial(ctx, pt)
	}
}

// dial connects to pt, counting the dial and its failure, which it
// returns.
func (n *node) dial(ctx context.Context, pt netip.AddrPort) error {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	_, err := n.pool.Connect(dctx, pt)
	cancel()
	if ctx.Err() != nil {
		return err
	}
	n.dials.Add(1)
	if err != nil {
		n.failures.Add(1)
	}
	return err
}

// The kinds of failed chain redials, for the summary's chain line.
const (
	chainFull    = iota // a pool at its maximum, ours or the peer's (nack)
	chainAlready        // already connected or being connected (both ends redial)
	chainTimeout        // the dial timed out
	chainOther
	numChainFails
)

var chainFailNames = [numChainFails]string{"full", "already connected or pending", "timed out", "other"}

func chainFailKind(err error) int {
	var nack *p2ppool.RejectedError
	switch {
	case errors.Is(err, p2ppool.ErrTooManyConnections),
		errors.As(err, &nack) && nack.Motive == p2ppool.NackTooManyConnections:
		return chainFull
	case errors.Is(err, p2ppool.ErrAlreadyConnected), errors.Is(err, p2ppool.ErrPendingConnection),
		errors.As(err, &nack) && nack.Motive == p2ppool.NackAlreadyConnected:
		return chainAlready
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, p2ppool.ErrTimeout):
		return chainTimeout
	}
	return chainOther
}

// chainLine says how the bootstrap chain fared: its links down now, the
// redials of lost links and why they failed; empty if none was lost.
func (s *swarm) chainLine(snap swarmState) string {
	var dials uint64
	var fails [numChainFails]uint64
	for _, n := range s.nodes {
		dials += n.chainDials.Load()
		for k := range fails {
			fails[k] += n.chainFails[k].Load()
		}
	}
	down := snap.chainDown
	if dials == 0 && down == 0 {
		return ""
	}
	var why []string
	failed := uint64(0)
	for k, c := range fails {
		if c > 0 {
			why = append(why, fmt.Sprintf("%d %s", c, chainFailNames[k]))
			failed += c
		}
	}
	line := fmt.Sprintf("%s down of %d, %d redials of lost links, %d failed", plural(down, "link"), len(s.nodes)-1, dials, failed)
	if len(why) > 0 {
		line += " (" + strings.Join(why, ", ") + ")"
	}
	return line
}

// chainDown counts the links of the bootstrap chain that are not up.
func (s *swarm) chainDown() int {
	down := 0
	for _, n := range s.nodes[1:] {
		if info, ok := n.pool.Points().Info(n.bootstrap); !ok || info.State != p2ppool.PointRunning {
			down++
		}
	}
	return down
}

// chainLost counts the node's neighbours in the chain it is not
// connected to (nor connecting to).
func (n *node) chainLost() int {
	lost := 0
	for _, pt := range n.neighbours {
		if info, ok := n.pool.Points().Info(pt); !ok || info.State == p2ppool.PointDisconnected {
			lost++
		}
	}
	return lost
}

// redialChain dials the node's neighbours in the chain it has lost and
// returns how many it had lost. Only the later node of a link dials it
// (its bootstrap peer): when both did, they met each other's dial and
// refused it (already connected) in a quarter of the redials at 30,000
// nodes.
//
// A node at MaxConnections first ends one connection that is not a
// chain link, at either end: else the later one could not dial (too
// many connections), nor get in at the earlier one if that one is full
// too, because a small pool protects every incoming connection from
// eviction (one per subnet, inbound.go), so two full neighbours would
// stay apart until a swap or maintenance happened to free a slot at
// both.
func (n *node) redialChain(ctx context.Context) int {
	lost := 0
	for _, pt := range n.neighbours {
		if info, ok := n.pool.Points().Info(pt); !ok || info.State == p2ppool.PointDisconnected {
			lost++
			if n.pool.Conns().Len() >= n.max {
				n.dropNonChain(ctx)
			}
			if pt != n.bootstrap {
				// The later node of a link dials it; this end only makes
				// room. Both dialling at once refused each other
				// (already connected) in 64,230 of 233,693 redials at
				// 30,000 nodes.
				continue
			}
			n.chainDials.Add(1)
			if err := n.dial(ctx, pt); err != nil && ctx.Err() == nil {
				n.chainFails[chainFailKind(err)].Add(1)
			}
		}
	}
	return lost
}

// dropNonChain ends the node's youngest connection that is not a link
// of the chain (the one it has invested least in), if any.
func (n *node) dropNonChain(ctx context.Context) {
	var youngest *swarmConn
	for _, c := range n.pool.Conns().All() {
		info := c.Info()
		if slices.Contains(n.neighbours, info.Point) {
			continue
		}
		if youngest == nil || info.Established.After(youngest.Info().Established) {
			youngest = c
		}
	}
	if youngest != nil {
		_ = youngest.Disconnect(ctx, true) // ended either way
	}
}

// gossip sends "hello from node i #n" to every connection, rate times a
// second.
func (n *node) gossip(ctx context.Context, rate float64) {
	period := time.Duration(float64(time.Second) / rate)
	// Start at a random phase so that the nodes do not send in lockstep.
	t := time.NewTimer(rand.N(period) + 1)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k, err := n.pool.WriteAll(Text(fmt.Sprintf("hello from node %d #%d", n.idx, seq)))
		if err == nil {
			n.msgsOut.Add(uint64(k))
		}
		t.Reset(period)
	}
}

// nodeStat is a node's line of the table, and its JSON object.
type nodeStat struct {
	Node        int            `json:"node"`
	PeerID      p2ppool.PeerID `json:"peer_id"`
	Connections int            `json:"connections"`
	KnownPoints int            `json:"known_points"`
	MsgsIn      uint64         `json:"msgs_in"`
	MsgsOut     uint64         `json:"msgs_out"`
	BytesIn     uint64         `json:"bytes_in"`
	BytesOut    uint64         `json:"bytes_out"`
	// Inflow and Outflow are the node's current wire rates, bytes per
	// second (a moving average the pool updates every second).
	Inflow  int `json:"inflow"`
	Outflow int `json:"outflow"`

	peers   []p2ppool.PeerID // connected to
	reached time.Duration    // when it reached its target, 0 if never
}

// swarmState is the swarm at one instant.
type swarmState struct {
	nodes []nodeStat
	// edges is the number of distinct connected pairs; components the
	// number of connected components of the graph they form, and sizes
	// their sizes, largest first.
	edges, components int
	sizes             []int
	// chainDown counts the links of the bootstrap chain not up.
	chainDown int
	// proc is the process when the swarm ended, before shutdown; zero
	// in the live view's snapshots.
	proc procStat
	// ended counts the connections ended so far over all nodes, by
	// reason (each end counts its own: one connection ended counts
	// twice), for the summary.
	ended map[p2ppool.DisconnectReason]uint64
}

// procStat is what the process holds: its goroutines, live heap and
// goroutine stacks.
type procStat struct {
	goroutines  int
	heap, stack uint64
}

// measureProcess collects garbage and measures the process: what is
// left is what the swarm holds.
func measureProcess() procStat {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procStat{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, stack: ms.StackInuse}
}

// writeHeapProfile writes the heap profile to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *swarm) snapshot() swarmState {
	snap := swarmState{nodes: make([]nodeStat, len(s.nodes)), ended: make(map[p2ppool.DisconnectReason]uint64)}
	for i, n := range s.nodes {
		st := &snap.nodes[i]
		st.Node = i
		st.PeerID = n.pool.Config().Identity.PeerID
		for _, c := range n.pool.Conns().All() {
			st.peers = append(st.peers, c.Peer())
		}
		st.Connections = len(st.peers)
		stats := n.pool.Stats() // once: at 30,000 nodes the view takes one a second of each
		st.KnownPoints = stats.Tables.KnownPoints
		st.Inflow, st.Outflow = stats.Traffic.Flow.CurrentInflow, stats.Traffic.Flow.CurrentOutflow
		for r, k := range stats.Connections.Ended {
			snap.ended[r] += k
		}
		if r := n.reached.Load(); r > 0 {
			st.reached = time.Duration(r - 1)
		}
	}
	s.updateCounters(snap)
	snap.edges, snap.sizes = s.graph(snap)
	snap.components = len(snap.sizes)
	snap.chainDown = s.chainDown()
	return snap
}

// updateCounters refreshes the traffic counters of snap.
func (s *swarm) updateCounters(snap swarmState) {
	for i, n := range s.nodes {
		st := &snap.nodes[i]
		st.MsgsIn, st.MsgsOut = n.msgsIn.Load(), n.msgsOut.Load()
		st.BytesIn, st.BytesOut = n.bytes()
	}
}

// graph counts the distinct connections and returns the sizes of the
// connected components of the graph of nodes linked by connections, over
// peer ids, largest first.
func (s *swarm) graph(snap swarmState) (edges int, sizes []int) {
	uf := newUnionFind(len(snap.nodes))
	seen := make(map[[2]int]bool)
	for i, st := range snap.nodes {
		for _, p := range st.peers {
			j, ok := s.byPeer[p]
			if !ok {
				continue
			}
			e := [2]int{min(i, j), max(i, j)}
			if !seen[e] {
				seen[e] = true
				edges++
			}
			uf.union(i, j)
		}
	}
	count := make(map[int]int, uf.sets)
	for i := range snap.nodes {
		count[uf.find(i)]++
	}
	for _, n := range count {
		sizes = append(sizes, n)
	}
	slices.SortFunc(sizes, func(a, b int) int { return b - a })
	return edges, sizes
}

// summary prints the outcome and reports whether the swarm connected:
// every node has a connection and the graph is connected.
func (s *swarm) summary(w io.Writer, snap swarmState, elapsed time.Duration, interrupted bool) bool {
	o := s.opts
	var msgsIn, msgsOut, bytesIn, bytesOut, dials, failures uint64
	minC, maxC, atTarget, isolated := -1, 0, 0, 0
	var slowest time.Duration
	for i, st := range snap.nodes {
		msgsIn += st.MsgsIn
		msgsOut += st.MsgsOut
		bytesIn += st.BytesIn
		bytesOut += st.BytesOut
		dials += s.nodes[i].dials.Load()
		failures += s.nodes[i].failures.Load()
		if minC < 0 || st.Connections < minC {
			minC = st.Connections
		}
		maxC = max(maxC, st.Connections)
		if st.Connections == 0 {
			isolated++
		}
		if st.reached > 0 {
			atTarget++
			slowest = max(slowest, st.reached)
		}
	}
	how := "ran"
	if interrupted {
		how = "interrupted after"
	}
	fmt.Fprintf(w, "swarm %s %v: %d nodes, target %s each\n", how, elapsed.Round(10*time.Millisecond), o.nodes, plural(o.target, "connection"))
	if atTarget == o.nodes {
		fmt.Fprintf(w, "  target:      every node reached %s (the last after %v)\n",
			plural(o.target, "connection"), max(slowest.Round(time.Millisecond), time.Millisecond))
	} else {
		fmt.Fprintf(w, "  target:      %d of %d nodes reached %s\n", atTarget, o.nodes, plural(o.target, "connection"))
	}
	if s.convergedAt > 0 {
		fmt.Fprintf(w, "  converged:   every node at its target and the graph connected after %v\n", s.convergedAt.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  connections: %d (per node %d to %d, average %.1f), %d dials by the discovery loop (%d failed; the pools' maintenance dials too)\n",
		snap.edges, minC, maxC, 2*float64(snap.edges)/float64(o.nodes), dials, failures)
	if p := snap.proc; p.goroutines > 0 {
		n := uint64(o.nodes)
		fmt.Fprintf(w, "  process:     %d goroutines (%.1f per node), heap %s (%s per node), stacks %s (%s per node)\n",
			p.goroutines, float64(p.goroutines)/float64(n), humanBytes(p.heap), humanBytes(p.heap/n), humanBytes(p.stack), humanBytes(p.stack/n))
	}
	if len(snap.ended) > 0 {
		fmt.Fprintf(w, "  ended:       %s\n", endedLine(snap.ended))
	}
	if line := s.chainLine(snap); line != "" {
		fmt.Fprintf(w, "  chain:       %s\n", line)
	}
	fmt.Fprintf(w, "  messages:    %d sent, %d received (%s out, %s in of P2P traffic)\n",
		msgsOut, msgsIn, humanBytes(bytesOut), humanBytes(bytesIn))
	ok := isolated == 0 && snap.components == 1
	switch {
	case ok:
		fmt.Fprintln(w, "  graph:       connected")
	case isolated > 0:
		fmt.Fprintf(w, "  graph:       NOT connected: %d node(s) without a connection\n", isolated)
	default:
		fmt.Fprintf(w, "  graph:       NOT connected: %d components %s\n", snap.components, sizesLine(snap.sizes))
	}
	return ok
}

// sizesLine lists the components' sizes, at most five, largest first:
// "(29994, 6 nodes)".
func sizesLine(sizes []int) string {
	var b strings.Builder
	b.WriteString("(")
	for i, n := range sizes[:min(len(sizes), 5)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(n))
	}
	if len(sizes) > 5 {
		fmt.Fprintf(&b, ", … %d more", len(sizes)-5)
	}
	b.WriteString(" nodes)")
	return b.String()
}

// endedLine lists the ended connections by reason, most first: "12
// swapped, 3 maintenance (connection ends)".
func endedLine(ended map[p2ppool.DisconnectReason]uint64) string {
	reasons := slices.Collect(maps.Keys(ended))
	slices.SortFunc(reasons, func(a, b p2ppool.DisconnectReason) int {
		return cmp.Or(cmp.Compare(ended[b], ended[a]), cmp.Compare(a, b))
	})
	var b strings.Builder
	for i, r := range reasons {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %v", ended[r], r)
	}
	b.WriteString(" (connection ends, before shutdown)")
	return b.String()
}

// plural formats a count of things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// humanBytes formats a byte count with a k/M/G (powers of 1000) suffix.
func humanBytes(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

// humanRate formats a rate in bytes per second like humanBytes, with a
// "/s" suffix.
func humanRate(n int) string {
	return humanBytes(uint64(max(n, 0))) + "/s"
}

// nodeLogger is node i's Config.Logger: -log-level and -log-format's
// logger with the node's index on each line.
func nodeLogger(l *slog.Logger, i int) *slog.Logger {
	if l == nil {
		return nil
	}
	return l.With("node", i)
}
