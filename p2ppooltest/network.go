package p2ppooltest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
)

// DefaultBufferSize and DefaultBacklog are the defaults of [Config].
const (
	DefaultBufferSize = 64 << 10
	DefaultBacklog    = 128
)

// Config configures a [Network]. The zero value is ready to use.
type Config struct {
	// BufferSize is how many bytes each direction of a connection holds
	// that its reader has not read (a socket's send and receive buffers
	// together): a writer blocks once they are there. If zero,
	// DefaultBufferSize (64 KiB).
	BufferSize int
	// Backlog is how many connections a listener holds that Accept has
	// not taken yet; further dials wait for room (or for their context).
	// If zero, DefaultBacklog (128).
	Backlog int
}

// Network is an in-memory network of hosts, each with its own IP address,
// that listen and dial each other over buffered connections whose faults
// tests control. A Network and everything on it is safe for concurrent
// use.
//
// Under testing/synctest, create the Network inside the bubble: its
// connections wait on channels and timers of the bubble, so a goroutine
// blocked in Read, Write, Accept or a dial is durably blocked and the
// bubble's clock runs latencies, rates and deadlines.
type Network struct {
	// Immutable after NewNetwork.
	cfg Config

	mu sync.Mutex
	// Guarded by mu.
	hosts     map[netip.Addr]*Host
	listeners map[netip.AddrPort]*listener
	conns     map[[2]netip.AddrPort]*Conn // live ends by local and remote address
	paths     map[[2]netip.Addr]*path     // by source and destination host
	nextHost  int                         // NewHost's next /24
}

// NewNetwork returns an empty network.
func NewNetwork(cfg Config) *Network {
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	return &Network{
		cfg:       cfg,
		hosts:     make(map[netip.Addr]*Host),
		listeners: make(map[netip.AddrPort]*listener),
		conns:     make(map[[2]netip.AddrPort]*Conn),
		paths:     make(map[[2]netip.Addr]*path),
	}
}

// Host returns the host with the IP address addr (IPv4 or IPv6, as
// netip.ParseAddr reads it), adding it to the network the first time. It
// panics if addr is not an IP address: it is for tests, which spell their
// addresses out.
func (n *Network) Host(addr string) *Host {
	ip := netip.MustParseAddr(addr).Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hostLocked(ip)
}

// NewHost adds a host with an address of its own subnet: the i-th is
// 10.i/256.i%256.1, alone in its /24 and its /16's share of them, so that
// per-address and per-subnet rules never group two of them by accident.
func (n *Network) NewHost() *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		i := n.nextHost
		n.nextHost++
		if i >= 1<<16 {
			panic("p2ppooltest: no address left for NewHost")
		}
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		if _, taken := n.hosts[ip]; !taken {
			return n.hostLocked(ip)
		}
	}
}

// hostLocked returns the host at ip, made if need be. n.mu must be held.
func (n *Network) hostLocked(ip netip.Addr) *Host {
	h := n.hosts[ip]
	if h == nil {
		h = &Host{nw: n, addr: ip, ports: make(map[uint16]bool), nextPort: firstEphemeral}
		n.hosts[ip] = h
	}
	return h
}

// pathLocked returns the path from src to dst. n.mu must be held.
func (n *Network) pathLocked(src, dst netip.Addr) *path {
	k := [2]netip.Addr{src, dst}
	p := n.paths[k]
	if p == nil {
		p = newPath()
		n.paths[k] = p
	}
	return p
}

// updatePath changes the path from src to dst under n.mu, so that it
// cannot be dropped meanwhile, and drops it if that leaves it unused with
// nothing set.
func (n *Network) updatePath(src, dst netip.Addr, fn func(p *path)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pathLocked(src, dst)
	p.update(fn)
	n.pruneLocked(src, dst, p)
}

// pruneLocked drops the path from src to dst, p, if no connection uses it
// and nothing is set on it: the next dial or setting makes it again.
// n.mu must be held.
func (n *Network) pruneLocked(src, dst netip.Addr, p *path) {
	k := [2]netip.Addr{src, dst}
	if p.users == 0 && n.paths[k] == p && p.isDefault() {
		delete(n.paths, k)
	}
}

// SetFaults sets the faults of every connection's bytes from host from to
// host to, those open and those to come, on top of each connection's own
// ([Conn.SetFaults]). Call it again with the other order for the other
// direction.
func (n *Network) SetFaults(from, to *Host, f Faults) {
	n.updatePath(from.addr, to.addr, func(p *path) { p.faults = f })
}

// Partition cuts hosts a and b apart until Heal: dials between them fail
// at once with an error matching syscall.EHOSTUNREACH, and their open
// connections stall both ways, as if every packet were lost: bytes
// written wait in the buffers (writers block once they are full, until a
// deadline), nothing arrives, and no end learns of the cut. Heal delivers
// what waited, in order. Other hosts are not affected.
func (n *Network) Partition(a, b *Host) { n.setPartition(a, b, true) }

// Heal ends a partition between a and b: their connections resume where
// they stalled.
func (n *Network) Heal(a, b *Host) { n.setPartition(a, b, false) }

func (n *Network) setPartition(a, b *Host, cut bool) {
	n.updatePath(a.addr, b.addr, func(p *path) { p.partitioned = cut })
	n.updatePath(b.addr, a.addr, func(p *path) { p.partitioned = cut })
}

// Reset resets every open connection between hosts a and b (see
// [Conn.Reset]) and returns how many it reset.
func (n *Network) Reset(a, b *Host) int {
	var victims []*Conn
	seen := make(map[*Conn]bool)
	n.mu.Lock()
	for k, c := range n.conns {
		src, dst := k[0].Addr(), k[1].Addr()
		between := (src == a.addr && dst == b.addr) || (src == b.addr && dst == a.addr)
		if between && !seen[c] && !seen[c.peer] {
			seen[c] = true
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.Reset()
	}
	return len(victims)
}

// Lookup returns the open end of a connection whose local address is
// local and whose peer is at remote. A test finds the transport under a
// pool's connection this way: remote is that connection's RemoteAddr, and
// local the RemoteAddr of the other pool's end (or the address its own
// dialer or listener handed out).
func (n *Network) Lookup(local, remote netip.AddrPort) (*Conn, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.conns[[2]netip.AddrPort{unmap(local), unmap(remote)}]
	return c, ok
}

// forget removes a closed end from the network's tables and frees its port
// once both ends are closed.
func (n *Network) forget(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, [2]netip.AddrPort{c.localAP(), c.remoteAP()})
	if !c.peer.closed.Load() || c.link.released {
		return // the pair's addresses stay taken while an end is open
	}
	c.link.released = true
	for _, e := range []*Conn{c, c.peer} {
		if e.owner != nil {
			delete(e.owner.ports, e.local.AddrPort().Port())
		}
	}
	// Both ends closed: the connection no longer uses its paths.
	for _, e := range []*Conn{c, c.peer} {
		pt := e.out.path
		pt.users--
		n.pruneLocked(e.localAP().Addr(), e.remoteAP().Addr(), pt)
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// firstEphemeral is where a host's ephemeral ports start, as on Linux.
const firstEphemeral = 32768

// Host is a machine of a [Network] with one IP address: its listeners
// listen there and its connections come from there. It implements
// p2ppool's Dialer. A Host is safe for concurrent use.
type Host struct {
	// Immutable after creation.
	nw   *Network
	addr netip.Addr

	// Guarded by nw.mu.
	ports    map[uint16]bool // in use by a listener or a dialled connection
	nextPort uint16          // the next ephemeral port to try
}

// Addr returns the host's IP address.
func (h *Host) Addr() netip.Addr { return h.addr }

// String returns the host's IP address.
func (h *Host) String() string { return h.addr.String() }

// ephemeralLocked takes a free ephemeral port. h.nw.mu must be held.
func (h *Host) ephemeralLocked() (uint16, error) {
	for range 1 << 16 {
		p := h.nextPort
		h.nextPort++
		if h.nextPort == 0 {
			h.nextPort = firstEphemeral
		}
		if !h.ports[p] {
			h.ports[p] = true
			return p, nil
		}
	}
	return 0, syscall.EADDRNOTAVAIL
}

// Listen listens on address, "host:port" as for net.Listen, where host is
// empty, unspecified or the host's own address, and port 0 picks a free
// one. network is "tcp", "tcp4" or "tcp6". The listener's Accept returns
// *Conn values, and its Addr a *net.TCPAddr.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	opErr := func(err error) error { return &net.OpError{Op: "listen", Net: network, Err: err} }
	if err := checkNetwork(network); err != nil {
		return nil, opErr(err)
	}
	hostPart, portPart, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	if hostPart != "" {
		ip, err := netip.ParseAddr(hostPart)
		if err != nil {
			return nil, opErr(err)
		}
		if ip = ip.Unmap(); !ip.IsUnspecified() && ip != h.addr {
			return nil, opErr(fmt.Errorf("listen on %v from host %v: %w", ip, h.addr, syscall.EADDRNOTAVAIL))
		}
	}
	if err := checkFamily(network, h.addr); err != nil {
		return nil, opErr(err)
	}
	port, err := net.LookupPort("tcp", portPart)
	if err != nil {
		return nil, opErr(err)
	}
	n := h.nw
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == 0 {
		p, err := h.ephemeralLocked()
		if err != nil {
			return nil, opErr(err)
		}
		port = int(p)
	} else if h.ports[uint16(port)] {
		return nil, opErr(syscall.EADDRINUSE)
	}
	h.ports[uint16(port)] = true
	ap := netip.AddrPortFrom(h.addr, uint16(port))
	ln := &listener{host: h, addr: net.TCPAddrFromAddrPort(ap), backlog: n.cfg.Backlog, changed: make(chan struct{})}
	n.listeners[ap] = ln
	return ln, nil
}

// DialContext connects to address, "ip:port", from this host's address and
// a fresh port, as net.Dialer's DialContext does, and returns a *Conn. It
// returns once the listener has queued the connection (before Accept, as
// TCP does), and fails with an error matching
//   - syscall.ECONNREFUSED if nothing listens there;
//   - syscall.EHOSTUNREACH if the hosts are partitioned ([Network.Partition]);
//   - the context's error if it ends while the listener's backlog is full.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: err} }
	if err := checkNetwork(network); err != nil {
		return nil, opErr(err)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	ap = unmap(ap)
	if err := checkFamily(network, ap.Addr()); err != nil {
		return nil, opErr(err)
	}
	if err := checkFamily(network, h.addr); err != nil {
		return nil, opErr(err)
	}
	dst := net.TCPAddrFromAddrPort(ap)
	opErr = func(err error) error { return &net.OpError{Op: "dial", Net: network, Addr: dst, Err: err} }
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	n := h.nw
	n.mu.Lock()
	if p := n.paths[[2]netip.Addr{h.addr, ap.Addr()}]; p != nil && p.isPartitioned() {
		n.mu.Unlock()
		return nil, opErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH))
	}
	ln := n.listeners[ap]
	if ln == nil {
		n.mu.Unlock()
		return nil, opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED))
	}
	port, err := h.ephemeralLocked()
	if err != nil {
		n.mu.Unlock()
		return nil, opErr(err)
	}
	src := net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.addr, port))
	up := newPipe(n.pathLocked(h.addr, ap.Addr()), n.cfg.BufferSize)
	down := newPipe(n.pathLocked(ap.Addr(), h.addr), n.cfg.BufferSize)
	up.path.users++
	down.path.users++
	lk := &link{}
	client := &Conn{nw: n, owner: h, local: src, remote: dst, in: down, out: up, link: lk}
	server := &Conn{nw: n, local: dst, remote: src, in: up, out: down, link: lk}
	client.rd.p, client.wd.p = down, up
	server.rd.p, server.wd.p = up, down
	client.rd.read, server.rd.read = true, true
	client.peer, server.peer = server, client
	n.conns[[2]netip.AddrPort{client.localAP(), client.remoteAP()}] = client
	n.conns[[2]netip.AddrPort{server.localAP(), server.remoteAP()}] = server
	n.mu.Unlock()
	if err := ln.enqueue(ctx, server); err != nil {
		client.Close()
		server.Close()
		return nil, opErr(err)
	}
	return client, nil
}

func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// checkFamily refuses an address of the other family on "tcp4" or "tcp6".
func checkFamily(network string, ip netip.Addr) error {
	if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && ip.Is4()) {
		return &net.AddrError{Err: "address of the wrong family for " + network, Addr: ip.String()}
	}
	return nil
}
