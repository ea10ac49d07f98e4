package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The re-entrancy tests: every callback the pool runs calls the pool back
// (Close, Shutdown, and every other exported call, found by reflection),
// in a synctest bubble over the mem network. A call that deadlocks blocks
// the bubble, which synctest reports; a call that waits until its
// context's deadline fails the test too; every goroutine must have
// exited when the bubble ends (and goleak checks again in TestMain).

type rpool = Pool[text, int, Metadata]
type rconn = Connection[text, Metadata]

// reentry is the callback's side of a test: armed, the next callback of
// the kind under test runs act on the pool, once.
type reentry struct {
	t     *testing.T
	pool  atomic.Pointer[rpool]
	armed atomic.Bool
	ran   chan struct{} // closed once act has returned
	act   func(r *reentry, p *rpool)
	// peer is a peer the pool is connected to, for the calls' arguments.
	peer  PeerID
	point netip.AddrPort
	n     *network
}

// fire runs act if armed: every callback under test calls it.
func (r *reentry) fire() {
	if !r.armed.CompareAndSwap(true, false) {
		return
	}
	defer close(r.ran)
	r.act(r, r.pool.Load())
}

// rhandler is a Logger handler that fires on the records whose message
// is msg.
type rhandler struct {
	r   *reentry
	msg string
}

func (h rhandler) Enabled(context.Context, slog.Level) bool { return true }
func (h rhandler) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == h.msg {
		h.r.fire()
	}
	return nil
}
func (h rhandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h rhandler) WithGroup(string) slog.Handler      { return h }

// rmetrics fires on the Metrics method named.
type rmetrics struct {
	r    *reentry
	name string
}

func (m rmetrics) on(name string) {
	if m.name == name {
		m.r.fire()
	}
}
func (m rmetrics) ConnOpened(bool)                            { m.on("ConnOpened") }
func (m rmetrics) ConnClosed(DisconnectReason, time.Duration) { m.on("ConnClosed") }
func (m rmetrics) HandshakeFailed(HandshakeStage, error)      { m.on("HandshakeFailed") }
func (m rmetrics) ConnRefused(RefusalReason)                  { m.on("ConnRefused") }
func (m rmetrics) MsgDropped(DropReason)                      { m.on("MsgDropped") }
func (m rmetrics) BytesIn(int)                                { m.on("BytesIn") }
func (m rmetrics) BytesOut(int)                               { m.on("BytesOut") }

// rdialer fires, then dials.
type rdialer struct {
	r *reentry
	n *network
}

func (d rdialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.r.fire()
	return d.n.DialContext(ctx, network, address)
}

// callbackKind is where a test makes the pool call back: setup wires
// fire into the pool's config, trigger makes the pool run it.
type callbackKind struct {
	name string
	// setup adjusts the pool's configuration to call r.fire.
	setup func(r *reentry, meta *PeerMetaConfig[int], cm *ConnMetaConfig[Metadata], msgs *MessageConfig[text], cfg *Config)
	// onNew installs the fire as an OnNew hook.
	onNew bool
	// trigger makes the callback run, once the pool (a) is connected to
	// b and armed; c is a node a has not met. It runs on a goroutine of
	// its own and may fail (the pool closes under it).
	trigger func(r *reentry, a *rpool, aPoint netip.AddrPort, b, c *node)
}

// triggers.
func peerConnects(r *reentry, a *rpool, aPoint netip.AddrPort, _, c *node) {
	c.Connect(context.Background(), aPoint)
}

func aConnects(r *reentry, a *rpool, _ netip.AddrPort, _, c *node) {
	a.Connect(context.Background(), c.point)
}

func peerWrites(r *reentry, a *rpool, _ netip.AddrPort, b, _ *node) {
	if c, ok := b.Conns().ByPeer(a.Config().Identity.PeerID); ok {
		c.Write(context.Background(), "hello")
	}
}

func aWrites(r *reentry, a *rpool, _ netip.AddrPort, b, _ *node) {
	if c, ok := a.Conns().ByPeer(b.Config().Identity.PeerID); ok {
		c.Write(context.Background(), "hello")
	}
}

func peerLeaves(r *reentry, a *rpool, _ netip.AddrPort, b, _ *node) {
	if c, ok := b.Conns().ByPeer(a.Config().Identity.PeerID); ok {
		c.Disconnect(context.Background(), false)
	}
}

func handshakeFails(r *reentry, a *rpool, aPoint netip.AddrPort, _, _ *node) {
	nc, err := r.n.DialContext(context.Background(), "tcp", aPoint.String())
	if err != nil {
		return
	}
	nc.Write([]byte{0, 3, 1}) // a connection message cut short
	nc.Close()
}

func saveIsDue(r *reentry, a *rpool, _ netip.AddrPort, _, _ *node) {
	time.Sleep(2 * time.Second) // the periodic save runs
}

func maintenanceDials(r *reentry, a *rpool, _ netip.AddrPort, _, c *node) {
	a.Points().Register(c.point) // a new point: the maintenance dials it
}

var callbackKinds = []callbackKind{
	{name: "OnNew/incoming", onNew: true, trigger: peerConnects},
	{name: "OnNew/Connect", onNew: true, trigger: aConnects},
	{name: "PeerMeta.Initial", setup: func(r *reentry, m *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], _ *Config) {
		m.Initial = func() int { r.fire(); return 0 }
	}, trigger: peerConnects},
	{name: "PeerMeta.Score", setup: func(r *reentry, m *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], _ *Config) {
		m.Score = func(int) float64 { r.fire(); return 1 }
	}, trigger: peerConnects},
	{name: "PeerMeta.MarshalJSON", setup: func(r *reentry, m *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
		m.MarshalJSON = func(v int) ([]byte, error) { r.fire(); return []byte("0"), nil }
		cfg.PeersFile.Path = filepath.Join(r.t.TempDir(), "peers.json")
		cfg.PeersFile.SavePeriod = time.Second
	}, trigger: saveIsDue},
	{name: "ConnMeta.Decode", setup: func(r *reentry, _ *PeerMetaConfig[int], cm *ConnMetaConfig[Metadata], _ *MessageConfig[text], _ *Config) {
		decode := cm.Decode
		cm.Decode = func(b []byte) (Metadata, error) { r.fire(); return decode(b) }
	}, trigger: peerConnects},
	{name: "ConnMeta.PrivateNode", setup: func(r *reentry, _ *PeerMetaConfig[int], cm *ConnMetaConfig[Metadata], _ *MessageConfig[text], _ *Config) {
		cm.PrivateNode = func(Metadata) bool { r.fire(); return false }
	}, trigger: aConnects},
	{name: "Encoding.Decode", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], msgs *MessageConfig[text], _ *Config) {
		e := &msgs.Encodings[0]
		decode := e.Decode
		e.Decode = func(b []byte) (text, error) { r.fire(); return decode(b) }
	}, trigger: peerWrites},
	{name: "Encoding.Encode", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], msgs *MessageConfig[text], _ *Config) {
		e := &msgs.Encodings[0]
		encode := e.Encode
		e.Encode = func(dst []byte, m text) ([]byte, bool, error) { r.fire(); return encode(dst, m) }
	}, trigger: aWrites},
	{name: "Dialer/Connect", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
		cfg.Dialer = rdialer{r, r.n}
	}, trigger: aConnects},
	{name: "Dialer/maintenance", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
		cfg.Dialer = rdialer{r, r.n}
		cfg.Maintenance.IdleTime = time.Hour
		cfg.Limits.MinConnections, cfg.Limits.ExpectedConnections, cfg.Limits.MaxConnections = 4, 8, 12
	}, trigger: maintenanceDials},
	{name: "Logger/handshake", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
		cfg.Logger = slog.New(rhandler{r, "connection established"})
	}, trigger: peerConnects},
	{name: "Logger/reader", setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
		cfg.Logger = slog.New(rhandler{r, "disconnected"})
	}, trigger: peerLeaves},
}

func init() {
	for _, m := range []struct {
		name    string
		trigger func(*reentry, *rpool, netip.AddrPort, *node, *node)
	}{
		{"ConnOpened", peerConnects}, {"ConnClosed", peerLeaves}, {"BytesIn", peerWrites},
		{"BytesOut", aWrites}, {"HandshakeFailed", handshakeFails}, {"ConnRefused", handshakeFails},
	} {
		callbackKinds = append(callbackKinds, callbackKind{
			name: "Metrics." + m.name,
			setup: func(r *reentry, _ *PeerMetaConfig[int], _ *ConnMetaConfig[Metadata], _ *MessageConfig[text], cfg *Config) {
				cfg.Metrics = rmetrics{r, m.name}
			},
			trigger: m.trigger,
		})
	}
}

// reentrantActs are what the callbacks do.
var reentrantActs = []struct {
	name string
	act  func(r *reentry, p *rpool)
}{
	{"Close", closeFromCallback},
	{"Shutdown", func(r *reentry, p *rpool) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Nothing it waits for may take until the deadline: a
		// connection it cannot end before it returns is not waited for.
		assert.NoError(r.t, p.Shutdown(ctx), "Shutdown from a callback")
		closedFromCallback(r, p)
	}},
	{"EveryCall", func(r *reentry, p *rpool) {
		callEverything(r, p)
		closeFromCallback(r, p)
	}},
}

func closeFromCallback(r *reentry, p *rpool) {
	conns := p.Conns().All()
	assert.NoError(r.t, p.Close(), "Close from a callback")
	closedFromCallback(r, p)
	// What Close guarantees from a callback: every connection is cut.
	for _, c := range conns {
		assert.Error(r.t, c.Err(), "connection %d after Close", c.Info().ID)
	}
}

// closedFromCallback checks what holds once Close or Shutdown has returned
// in a callback: the pool refuses calls.
func closedFromCallback(r *reentry, p *rpool) {
	_, err := p.Connect(context.Background(), r.point)
	assert.ErrorIs(r.t, err, ErrPoolClosed, "Connect after Close from a callback")
	assert.ErrorIs(r.t, p.Conns().OnNew(func(*rconn) {}), ErrPoolClosed)
}

// callEverything calls every exported method of the pool, its views and
// one of its connections, found by reflection (Close and Shutdown aside:
// they come after). Each must return; none may wait until its context's
// deadline, except those that wait for a message.
func callEverything(r *reentry, p *rpool) {
	t := r.t
	waitsForMessages := map[string]bool{"Pool.Read": true, "Pool.ReadBatch": true, "Connection.Read": true, "Connection.ReadBatch": true, "Connection.WaitReadable": true}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	expired, cancelExpired := context.WithCancel(context.Background())
	cancelExpired()
	ln := r.n.listen(t)
	ln.Close() // Serve returns at once
	pipe, other := net.Pipe()
	other.Close() // Accept's handshake fails at once
	args := map[reflect.Type]reflect.Value{
		reflect.TypeFor[net.Listener]():   reflect.ValueOf(ln),
		reflect.TypeFor[net.Conn]():       reflect.ValueOf(pipe),
		reflect.TypeFor[netip.AddrPort](): reflect.ValueOf(r.point),
		reflect.TypeFor[netip.Addr]():     reflect.ValueOf(r.point.Addr()),
		reflect.TypeFor[PeerID]():         reflect.ValueOf(r.peer),
		reflect.TypeFor[string]():         reflect.ValueOf(r.point.String()),
		reflect.TypeFor[time.Duration]():  reflect.ValueOf(time.Minute),
		reflect.TypeFor[text]():           reflect.ValueOf("from a callback"),
		reflect.TypeFor[func(*rconn)]():   reflect.ValueOf(func(*rconn) {}),
		reflect.TypeFor[Limits](): reflect.ValueOf(Limits{
			MinConnections: 1, ExpectedConnections: 5, MaxConnections: 10,
			IncomingAppMessageQueueSize: 100, OutgoingMessageQueueSize: 1 << 20,
		}),
	}
	errType := reflect.TypeFor[error]()
	called := 0
	walk := func(kind string, v reflect.Value) {
		for i := range v.NumMethod() {
			m, name := v.Method(i), kind+"."+v.Type().Method(i).Name
			if name == "Pool.Close" || name == "Pool.Shutdown" {
				continue
			}
			ft := m.Type()
			in := make([]reflect.Value, 0, ft.NumIn())
			for j := range ft.NumIn() {
				at := ft.In(j)
				if ft.IsVariadic() && j == ft.NumIn()-1 {
					break
				}
				switch a, ok := args[at]; {
				case at == reflect.TypeFor[context.Context]() && waitsForMessages[name]:
					in = append(in, reflect.ValueOf(expired))
				case at == reflect.TypeFor[context.Context]():
					in = append(in, reflect.ValueOf(ctx))
				case ok:
					in = append(in, a)
				default:
					in = append(in, reflect.Zero(at))
				}
			}
			out := m.Call(in)
			called++
			if ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == errType && !waitsForMessages[name] {
				err, _ := out[len(out)-1].Interface().(error)
				assert.NotErrorIs(t, err, context.DeadlineExceeded, "%s from a callback waited until its deadline", name)
			}
		}
	}
	walk("Pool", reflect.ValueOf(p))
	walk("Peers", reflect.ValueOf(p.Peers()))
	walk("Points", reflect.ValueOf(p.Points()))
	walk("ACL", reflect.ValueOf(p.ACL()))
	walk("Conns", reflect.ValueOf(p.Conns()))
	if cs := p.Conns().All(); len(cs) > 0 {
		walk("Connection", reflect.ValueOf(cs[0]))
	}
	assert.Greater(t, called, 50, "the method sets were walked")
}

// TestCallbacksMayCallThePool: from every kind of callback, Close,
// Shutdown and every other call return (none deadlocks), Close and
// Shutdown close the pool, and once the callback has returned nothing of
// the pool is left running.
func TestCallbacksMayCallThePool(t *testing.T) {
	for _, kind := range callbackKinds {
		for _, act := range reentrantActs {
			t.Run(kind.name+"/"+act.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { testReentry(t, kind, act.act) })
			})
		}
	}
}

func testReentry(t *testing.T, kind callbackKind, act func(*reentry, *rpool)) {
	n := newNetwork("mem")
	r := &reentry{t: t, ran: make(chan struct{}), act: act, n: n}
	msgs := textMessages()
	var meta PeerMetaConfig[int]
	cm := OctezConnMeta()
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
	if kind.setup != nil {
		kind.setup(r, &meta, &cm, &msgs, &cfg)
	}
	a, err := New(msgs, meta, cm, cfg)
	require.NoError(t, err)
	r.pool.Store(a)
	ln := n.listen(t)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	aPoint := ln.Addr().(*net.TCPAddr).AddrPort()
	if kind.onNew {
		require.NoError(t, a.Conns().OnNew(func(*rconn) { r.fire() }))
	}
	// A running connection first, with a peer b.
	b := newNode(t, n, nil)
	_, err = b.Connect(context.Background(), aPoint)
	require.NoError(t, err)
	synctest.Wait()
	r.peer, r.point = b.Config().Identity.PeerID, b.point

	c := newNode(t, n, nil)

	r.armed.Store(true)
	triggered := make(chan struct{})
	go func() {
		defer close(triggered)
		kind.trigger(r, a, aPoint, b, c)
	}()
	// An hour of the bubble's time: a callback that deadlocks never
	// returns, and the pool's tickers keep the bubble's clock going.
	deadline := time.After(time.Hour)
	for _, ch := range []chan struct{}{r.ran, triggered} {
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("the callback under test did not return (or did not run)")
		}
	}
	// Called elsewhere, Close waits for everything, the callers
	// included.
	require.NoError(t, a.Close())
	assert.Zero(t, a.Conns().Len())
	require.ErrorIs(t, <-served, ErrPoolClosed)
}

// TestCallbacksCloseAtOnce: the readers of two connections, in their
// Decode, call Close (or Shutdown, or Disconnect on each other's
// connection) at the same moment: none waits for the other.
func TestCallbacksCloseAtOnce(t *testing.T) {
	acts := map[string]func(p *rpool, other *rconn) error{
		"Close": func(p *rpool, _ *rconn) error { return p.Close() },
		"Shutdown": func(p *rpool, _ *rconn) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return p.Shutdown(ctx)
		},
		"Disconnect": func(_ *rpool, other *rconn) error {
			err := other.Disconnect(context.Background(), true)
			if errors.Is(err, ErrConnectionClosed) {
				return nil // the other ended first
			}
			return err
		},
	}
	for name, act := range acts {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNetwork("mem")
				var (
					pool    atomic.Pointer[rpool]
					mu      sync.Mutex
					readers = map[PeerID]bool{}
					both    = make(chan struct{})
					errs    = make(chan error, 2)
				)
				msgs := textMessages()
				e := &msgs.Encodings[0]
				decode := e.Decode
				var self sync.Map // goroutine id -> peer: which reader runs
				e.Decode = func(body []byte) (text, error) {
					m, err := decode(body)
					if !strings.HasPrefix(m, "go:") {
						return m, err
					}
					peer, _ := self.Load(m)
					mu.Lock()
					readers[peer.(PeerID)] = true
					if len(readers) == 2 {
						close(both)
					}
					mu.Unlock()
					<-both
					p := pool.Load()
					var other *rconn
					for _, c := range p.Conns().All() {
						if c.Peer() != peer.(PeerID) {
							other = c
						}
					}
					errs <- act(p, other)
					return m, err
				}
				a, err := New(msgs, PeerMetaConfig[int]{}, OctezConnMeta(), Config{
					Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled},
				})
				require.NoError(t, err)
				pool.Store(a)
				ln := n.listen(t)
				served := make(chan error, 1)
				go func() { served <- a.Serve(ln) }()
				aPoint := ln.Addr().(*net.TCPAddr).AddrPort()
				var ends []*testConn
				for i := range 2 {
					b := newNode(t, n, nil)
					c, err := b.Connect(context.Background(), aPoint)
					require.NoError(t, err)
					m := "go:" + string(rune('a'+i))
					self.Store(m, b.Config().Identity.PeerID)
					ends = append(ends, c)
				}
				synctest.Wait()
				for i, c := range ends {
					require.NoError(t, c.Write(context.Background(), "go:"+string(rune('a'+i))))
				}
				deadline := time.After(time.Hour) // of the bubble's time
				for range 2 {
					select {
					case err := <-errs:
						assert.NoError(t, err)
					case <-deadline:
						t.Fatal("a callback did not return")
					}
				}
				require.NoError(t, a.Close())
				require.ErrorIs(t, <-served, ErrPoolClosed)
			})
		})
	}
}

// reentryPair makes, in a bubble, a pool a of cfg adjusted by mutate,
// with the message set msgs and peer metadata meta, and a node b
// connected to it; it returns a, its end of the connection, b and the
// network.
func reentryPair(t *testing.T, msgs MessageConfig[text], meta PeerMetaConfig[int], mutate func(*Config)) (*rpool, *rconn, *node, *network) {
	t.Helper()
	n := newNetwork("mem")
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(msgs, meta, OctezConnMeta(), cfg)
	require.NoError(t, err)
	ln := n.listen(t)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, a.Close())
		require.ErrorIs(t, <-served, ErrPoolClosed)
	})
	b := newNode(t, n, nil)
	_, err = b.Connect(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort())
	require.NoError(t, err)
	synctest.Wait()
	c, ok := a.Conns().ByPeer(b.Config().Identity.PeerID)
	require.True(t, ok)
	return a, c, b, n
}

// onceIn runs f on the first call made after it is armed, and returns
// its result on the channel.
type onceIn struct {
	armed atomic.Bool
	f     atomic.Pointer[func() error]
	out   chan error
}

func newOnceIn() *onceIn { return &onceIn{out: make(chan error, 1)} }

func (o *onceIn) arm(f func() error) { o.f.Store(&f); o.armed.Store(true) }

func (o *onceIn) fire() {
	if o.armed.CompareAndSwap(true, false) {
		o.out <- (*o.f.Load())()
	}
}

func (o *onceIn) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-o.out:
		return err
	case <-time.After(time.Hour): // of the bubble's time
		t.Fatal("the callback did not return")
		return nil
	}
}

// onceMetrics fires on BytesOut.
type onceMetrics struct {
	NopMetrics
	o *onceIn
}

func (m onceMetrics) BytesOut(int) { m.o.fire() }

// TestReentrantCallsThatCannotWait: the calls that would wait for the
// goroutine running the callback return ErrReentrant there, and work
// elsewhere.
func TestReentrantCallsThatCannotWait(t *testing.T) {
	t.Run("WriteFromTheConnectionsOwnWriter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			o := newOnceIn()
			_, c, _, _ := reentryPair(t, textMessages(), PeerMetaConfig[int]{}, func(cfg *Config) {
				cfg.Metrics = onceMetrics{o: o}
				cfg.Limits.OutgoingMessageQueueSize = 4 << 10
			})
			o.arm(func() error {
				// The writer is here: it can neither write this message
				// nor make room in a full queue.
				if err := c.WriteSync(context.Background(), "sync"); !errors.Is(err, ErrReentrant) {
					return fmt.Errorf("WriteSync: %w", err)
				}
				// An empty queue takes any message; then a message
				// larger than the queue's bound has to wait.
				if err := c.WriteNow("queued"); err != nil {
					return err
				}
				if err := c.Write(context.Background(), strings.Repeat("x", 8<<10)); !errors.Is(err, ErrReentrant) {
					return fmt.Errorf("Write on a full queue: %w", err)
				}
				return nil
			})
			require.NoError(t, c.WriteNow("first"))
			require.NoError(t, o.result(t))
			// Elsewhere, WriteSync waits for the writer as ever.
			require.NoError(t, c.WriteSync(context.Background(), "after"))
		})
	})
	t.Run("MaintainFromAReader", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			o := newOnceIn()
			msgs := textMessages()
			decode := msgs.Encodings[0].Decode
			msgs.Encodings[0].Decode = func(b []byte) (text, error) { o.fire(); return decode(b) }
			a, _, b, n := reentryPair(t, msgs, PeerMetaConfig[int]{}, func(cfg *Config) {
				cfg.Maintenance.IdleTime = time.Hour
				// One or two connections are in range: a run ends at once.
				cfg.Limits.MinConnections, cfg.Limits.ExpectedConnections, cfg.Limits.MaxConnections = 1, 2, 4
			})
			// A run may drop this reader's connection and wait for it.
			o.arm(func() error { return a.Maintain(context.Background()) })
			cb, _ := b.Conns().ByPeer(a.Config().Identity.PeerID)
			require.NoError(t, cb.Write(context.Background(), "hello"))
			require.ErrorIs(t, o.result(t), ErrReentrant)
			// From a hook on a handshake's goroutine, no run waits for
			// it: Maintain works.
			require.NoError(t, a.Conns().OnNew(func(*rconn) { o.fire() }))
			o.arm(func() error { return a.Maintain(context.Background()) })
			c := newNode(t, n, nil)
			_, err := a.Connect(context.Background(), c.point)
			require.NoError(t, err)
			require.NoError(t, o.result(t))
		})
	})
	t.Run("SaveFromMarshalJSON", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			o := newOnceIn()
			var p atomic.Pointer[rpool]
			meta := PeerMetaConfig[int]{MarshalJSON: func(int) ([]byte, error) { o.fire(); return []byte("0"), nil }}
			file := filepath.Join(t.TempDir(), "peers.json")
			a, _, _, _ := reentryPair(t, textMessages(), meta, func(cfg *Config) { cfg.PeersFile.Path = file })
			p.Store(a)
			o.arm(func() error { return p.Load().Peers().Save() })
			require.NoError(t, a.Peers().Save())
			require.ErrorIs(t, o.result(t), ErrReentrant)
			require.FileExists(t, file)
		})
	})
	t.Run("DisconnectItsOwnConnection", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			o := newOnceIn()
			msgs := textMessages()
			decode := msgs.Encodings[0].Decode
			msgs.Encodings[0].Decode = func(b []byte) (text, error) { o.fire(); return decode(b) }
			a, c, b, _ := reentryPair(t, msgs, PeerMetaConfig[int]{}, nil)
			o.arm(func() error { return c.Disconnect(context.Background(), true) })
			cb, _ := b.Conns().ByPeer(a.Config().Identity.PeerID)
			require.NoError(t, cb.Write(context.Background(), "hello"))
			require.NoError(t, o.result(t), "Disconnect from its own reader returns without waiting")
			<-c.Done()
			require.Equal(t, ReasonLocal, disconnectError(t, c.Err()).Reason)
		})
	})
}

// BenchmarkGoroutineRegistry is what the registry costs: a track and its
// untrack per goroutine start or counted call (three or four per
// connection, none per message), and the look-up a waiting call makes.
func BenchmarkGoroutineRegistry(b *testing.B) {
	var r goroutines
	b.Run("track", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.track(poolGoroutine{}, false).untrack()
		}
	})
	b.Run("self", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.self()
		}
	})
}

// TestTrackAllocatesNothing: a registration and its untrack, done for
// every goroutine start and counted call (about ten per connect, both
// ends), allocate nothing once the goroutine's record fits in the map.
func TestTrackAllocatesNothing(t *testing.T) {
	if lockCheck {
		t.Skip("the lock checker (-tags p2ppool_lockcheck) records every lock taken, which allocates")
	}
	var r goroutines
	r.track(poolGoroutine{}, false).untrack() // makes the map
	c := &conn{}
	if n := testing.AllocsPerRun(100, func() {
		outer := r.track(poolGoroutine{}, false)
		r.track(poolGoroutine{conn: c}, false).untrack()
		outer.untrack()
	}); n != 0 {
		t.Errorf("track and untrack: %v allocations, want 0", n)
	}
}
