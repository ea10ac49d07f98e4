package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/p2ppool/p2ppool/internal/socket"
	"github.com/p2ppool/p2ppool/internal/sockopt"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// NoProofOfWork is the difficulty of no proof of work at all (octez
// target 0, used by sandboxes and tests): as Config.ProofOfWorkTarget it
// accepts peers whatever their stamp; GenerateIdentity makes an identity
// at once; CheckProofOfWork and LoadIdentity accept any stamp. A
// difficulty of zero means DefaultNodeProofOfWork everywhere.
const NoProofOfWork = -1.0

// Disabled, as a Config duration that can be turned off, turns the
// feature off (octez None); int(Disabled) does the same for a count that
// can be turned off, and int64(Disabled) for a speed cap. Each field that
// accepts it says so in its doc; elsewhere a negative value is invalid.
// A zero field never means "off" unless its documented default is "off".
const Disabled time.Duration = -1

// Octez defaults (P2p_limits.default and the node configuration), applied
// to zero Config fields.
const (
	DefaultMinConnections              = 10
	DefaultExpectedConnections         = 50
	DefaultMaxConnections              = 100
	DefaultMaxIncomingConnections      = 20
	DefaultConnectionTimeout           = 10 * time.Second
	DefaultAuthenticationTimeout       = 5 * time.Second
	DefaultGreylistTimeout             = 24 * time.Hour
	DefaultIncomingAppMessageQueueSize = 10
	DefaultIncomingMessageQueueSize    = 8 << 20
	DefaultOutgoingMessageQueueSize    = 8 << 20
	DefaultKnownPeerIDsHistorySize     = 100
	DefaultKnownPointsHistorySize      = 100
	DefaultSwapLinger                  = 30 * time.Second
	DefaultListeningPort               = 9732
	DefaultIPGreylistSizeKiB           = 2048
	DefaultPeerGreylistSize            = 1023
	DefaultPeersFileSavePeriod         = 5 * time.Minute
	DefaultMaintenanceIdleTime         = 120 * time.Second

	// Bounds octez does not have, for a node on a public address (see
	// the README's Security section).
	DefaultMaxMessageSize         = 8 << 20
	DefaultTotalIncomingQueueSize = 64 << 20
	DefaultTotalOutgoingQueueSize = 32 << 20
	DefaultMaxPendingPerAddr      = 2
	DefaultMaxPendingPerSubnet    = 4
	DefaultMaxIncomingPerAddr     = 4
	DefaultMaxIncomingPerSubnet   = 10
	DefaultSubnetBitsIPv4         = 24
	DefaultAddrBitsIPv6           = 64
	DefaultSubnetBitsIPv6         = 48
	DefaultFirstMessageTimeout    = 2 * time.Second
	DefaultHandshakeFailureLimit  = 3
	DefaultWriteTimeout           = 60 * time.Second
)

// DefaultMaxKnownPoints and DefaultMaxKnownPeerIDs are octez's known-table
// bounds: past High entries, the table is trimmed to Low.
var (
	DefaultMaxKnownPoints  = TableLimit{High: 400, Low: 300}
	DefaultMaxKnownPeerIDs = TableLimit{High: 400, Low: 300}
)

// TableLimit bounds a known-peers or known-points table: when it grows past
// High it is trimmed to Low (octez's Some (high, low)). NoTableLimit
// leaves the table unbounded (octez's None).
type TableLimit struct {
	High, Low int
}

// NoTableLimit, as Config.Tables.MaxKnownPoints or MaxKnownPeerIDs, leaves
// the table unbounded and never trimmed: octez's max_known_points /
// max_known_peer_ids = None, for which gc_points and gc_peers do nothing
// (src/lib_p2p/p2p_pool.ml:87-89, 209-210). The zero TableLimit means the
// default, and a negative High or Low is invalid unless both are -1.
var NoTableLimit = TableLimit{High: -1, Low: -1}

// unbounded reports whether l is NoTableLimit.
func (l TableLimit) unbounded() bool { return l == TableLimit{High: -1, Low: -1} }

// full reports whether a table of n entries must be trimmed before it
// takes one more.
func (l TableLimit) full(n int) bool { return !l.unbounded() && n >= l.High }

// Dialer opens outgoing transport connections. *net.Dialer is one; tests
// inject an in-memory network.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// NewDialer returns the *net.Dialer a pool dials with when Config.Dialer
// is nil: each outgoing socket gets octez's options (p2p_fd.ml,
// raw_socket): TCP keep-alive probes after 10 s of silence and every 5 s
// after that (the system's count of probes, 9 on Linux), and on Linux a
// TCP_USER_TIMEOUT of 45 s, so that a dead peer is noticed in under a
// minute; Go's own TCP_NODELAY stays on. A Dialer of the caller's that
// wraps the result keeps them; change its KeepAliveConfig, or its
// Control (nil: no user timeout), for other values. The options are not
// mandatory, as in octez: a system that refuses one still dials.
func NewDialer() *net.Dialer {
	return &net.Dialer{KeepAliveConfig: sockopt.KeepAlive(), Control: sockopt.DialControl}
}

// ListenConfig returns a *net.ListenConfig whose TCP listeners give their
// accepted connections octez's keep-alive (10 s idle, 5 s between probes,
// the system's count), for Pool.Serve:
//
//	ln, err := p2ppool.ListenConfig().Listen(ctx, "tcp", ":9732")
//
// On Linux the options are set once, on the listening socket, as octez
// does (p2p_fd.ml, create_listening_socket), with its 45 s
// TCP_USER_TIMEOUT; accepted sockets inherit the keep-alive settings
// without a system call of their own, and, as in octez, not the user
// timeout. Elsewhere Go sets the keep-alive on each accepted socket. A
// listener from net.Listen instead gives each accepted connection Go's
// defaults: keep-alive after 15 s, every 15 s, 9 probes, set with four
// system calls per connection, and no user timeout. Either way Go sets
// TCP_NODELAY (octez leaves Nagle's algorithm on; we do not).
func ListenConfig() *net.ListenConfig {
	if sockopt.ListenerInherits {
		return &net.ListenConfig{KeepAlive: -1, Control: sockopt.ListenControl}
	}
	return &net.ListenConfig{KeepAliveConfig: sockopt.KeepAlive()}
}

// UnknownMessagePolicy is what a message with an undeclared tag costs
// the peer (Config.Wire.UnknownMessages).
type UnknownMessagePolicy uint8

// Policies for messages with an undeclared tag.
const (
	// UnknownMessagesGreylist ends the connection and greylists the peer
	// and its address (octez).
	UnknownMessagesGreylist UnknownMessagePolicy = iota
	// UnknownMessagesIgnore drops the message, counts it and keeps the
	// connection.
	UnknownMessagesIgnore
)

func (u UnknownMessagePolicy) String() string {
	switch u {
	case UnknownMessagesGreylist:
		return "greylist"
	case UnknownMessagesIgnore:
		return "ignore"
	}
	return fmt.Sprintf("UnknownMessagePolicy(%d)", uint8(u))
}

// Config is the pool's configuration, octez's P2p.config and P2p_limits,
// grouped by concern: the network it joins, the limits an operator may
// change while it runs, the pool-wide byte budgets, admission of incoming
// connections, timeouts, the known tables, the greylist, reconnection
// back-off, the maintenance, the peers file, the wire format, the control
// and dial budgets, and the injected dialer, logger and metrics. A zero
// field, in any group, means the default named in its comment (the octez
// default where octez has the setting); Disabled turns off the features
// that may be off, and only those. New copies the Config and never writes
// to it. Identity is the only required field.
type Config struct {
	// Identity is this node's key pair and proof-of-work stamp. Required.
	Identity *Identity
	// ProofOfWorkTarget is the difficulty, in bits, that peers' stamps must
	// meet (octez proof_of_work_target). If zero, 26, the octez node
	// default (DefaultNodeProofOfWork); NoProofOfWork accepts any stamp.
	ProofOfWorkTarget float64
	// Network is the network this node joins: trusted points, closed
	// network, discovery, the address announced.
	Network NetworkConfig
	// Limits bound the connections, their speed and their queues; they
	// are the settings Pool.SetLimits changes while the pool runs.
	Limits Limits
	// Budgets bound, in bytes, what all the connections of the pool hold
	// between them and the size of one message.
	Budgets BudgetConfig
	// Admission bounds the incoming handshakes and connections, per
	// address and per subnet, and greylists addresses that keep failing.
	Admission AdmissionConfig
	// Timeouts bound dials, handshakes and idle or stuck connections.
	Timeouts TimeoutConfig
	// Tables bound the known-peers and known-points tables and their
	// histories.
	Tables TableConfig
	// Greylist sizes the address and peer greylists and says how long an
	// address stays greylisted.
	Greylist GreylistConfig
	// Reconnection is the back-off applied to points whose connections
	// fail or end (octez greylisting_config). Zero fields mean octez's.
	Reconnection ReconnectionConfig
	// Maintenance paces the maintenance and the swaps.
	Maintenance MaintenanceConfig
	// PeersFile is where and how often the known peers are saved.
	PeersFile PeersFileConfig
	// Wire is how messages are written and what a message of an
	// undeclared tag costs the peer.
	Wire WireConfig
	// Control budgets, per connection, the P2P control messages a peer
	// may send (Bootstrap, Advertise, Swap_request, Swap_ack), and says
	// when a peer that keeps sending over budget, there or in an
	// application's Budget, is greylisted. Zero fields mean the
	// DefaultControl* values (see ControlConfig); octez has no such budget.
	Control ControlConfig
	// Dial bounds the outgoing attempts: how many run at once, how many
	// start per second, how fast the points peers name are dialled, and
	// which of them may be (see DialConfig). Zero fields mean its
	// defaults; octez bounds none of it.
	Dial DialConfig
	// Dialer opens outgoing connections. If nil, NewDialer's, with
	// octez's socket options.
	Dialer Dialer
	// Logger receives the pool's logs; peers' misbehaviour is logged at
	// Debug. If nil, logs are discarded.
	Logger *slog.Logger
	// Metrics receives the pool's events (connections opened and closed,
	// failed handshakes, refusals, drops, bytes) for a monitoring system.
	// If nil, NopMetrics.
	Metrics Metrics
}

// NetworkConfig is the network a node joins (Config.Network).
type NetworkConfig struct {
	// TrustedPoints are points the pool trusts (octez trusted_points): in
	// a closed network only they may connect.
	TrustedPoints []netip.AddrPort
	// ClosedNetwork, octez private_mode: only trusted points and peers may
	// connect, and this node's points are never advertised.
	ClosedNetwork bool
	// DisablePeerDiscovery: Bootstrap requests get no answer and
	// advertised points are ignored (octez disable_peer_discovery).
	DisablePeerDiscovery bool
	// ListeningPort is the port announced in connection messages, so
	// peers can dial us back (octez listening_port). If zero, the port of
	// the first TCP listener given to Serve, else none.
	ListeningPort uint16
	// ListeningAddr is the address this node listens on (octez
	// listening_addr). It is informational: Serve takes any listener.
	ListeningAddr netip.Addr
}

func (n NetworkConfig) withDefaults() NetworkConfig {
	// A copy: the pool never shares the caller's slice.
	n.TrustedPoints = append([]netip.AddrPort(nil), n.TrustedPoints...)
	return n
}

func (n NetworkConfig) validate(bad func(format string, args ...any)) {
	for _, p := range n.TrustedPoints {
		if !p.IsValid() {
			bad("Network.TrustedPoints: point %v is not valid", p)
		}
	}
}

// BudgetConfig bounds, in bytes, what the pool's connections hold between
// them, and one message (Config.Budgets). octez has none of these bounds
// but its 100 MiB message size.
type BudgetConfig struct {
	// TotalIncomingQueueSize bounds the bytes of Limits.IncomingMessageQueueSize
	// summed over every connection of the pool: a reader waits for room
	// here too, so many peers sending large messages to an application
	// that reads slowly hold at most this much between them, plus the
	// first 64 KiB queued on each connection, which are its own. A
	// connection gives back what its application has read in steps of
	// 16 KiB, and all of it when its queue empties. What a connection
	// left unread when it ended stays readable and counts here in full
	// (its first 64 KiB too), with 4 KiB for the connection it keeps
	// alive, until it is read; if there is no room for it
	// when the connection ends, or once a live connection waits for the
	// budget, it is dropped, the oldest ended connection's first
	// (Stats.Queues.UnreadDropped): ended connections never keep live
	// ones waiting, and however many there are they hold no more than
	// this budget. One message is taken whatever its count if the budget
	// is otherwise free. Besides, each connection's reader holds its buffers, at most
	// a chunk sealed and one open (64 KiB each), and, while it decodes
	// them, the messages that arrived whole in them. If zero, 64 MiB.
	TotalIncomingQueueSize int
	// TotalOutgoingQueueSize bounds the bytes of Limits.OutgoingMessageQueueSize
	// summed over every connection of the pool, with those each writer
	// has taken and not yet written, beyond the first 64 KiB of each
	// connection, which are its own, so that peers that never read cannot
	// stop another connection from sending. (A writer stuck on a peer
	// that does not read also holds the sealed bytes it is writing: a
	// batch goes out sealed a 64 KiB piece at a time, so at most
	// 128 KiB.) When it is spent, Write waits (until its context
	// or the connection ends) and WriteNow, WriteAll and the pool's own
	// messages drop and count (ErrOutgoingBudgetFull, an ErrQueueFull;
	// Stats.Queues.OutgoingBudgetDrops). A broadcast larger than 2 KiB is
	// one copy for all its connections and counts once here (each
	// connection's own bound counts it whole). octez bounds each
	// connection only, and so did this pool: 40 peers that never read
	// their echoes held 694 MiB. If zero, 32 MiB: four connections' whole
	// queues, far more than a writer needs in flight (its batches are
	// 256 KiB), so no throughput is lost, and with 100 connections at
	// most 38.25 MiB in all.
	TotalOutgoingQueueSize int
	// MaxMessageSize bounds the body of an application message whose
	// Encoding sets no MaxLength, in both directions; a peer that
	// announces a larger message is cut before anything is allocated for
	// it, and its address greylisted. octez's only bound is 100 MiB. If
	// zero, 8 MiB, more than any message of the octez shell carries in
	// practice (the largest, Protocol, holds a protocol's sources).
	MaxMessageSize int
}

func (b BudgetConfig) withDefaults() BudgetConfig {
	setDefault(&b.TotalIncomingQueueSize, DefaultTotalIncomingQueueSize)
	setDefault(&b.TotalOutgoingQueueSize, DefaultTotalOutgoingQueueSize)
	setDefault(&b.MaxMessageSize, DefaultMaxMessageSize)
	return b
}

func (b BudgetConfig) validate(bad func(format string, args ...any)) {
	nonNegative(bad, "Budgets.TotalIncomingQueueSize", b.TotalIncomingQueueSize)
	nonNegative(bad, "Budgets.TotalOutgoingQueueSize", b.TotalOutgoingQueueSize)
	if nonNegative(bad, "Budgets.MaxMessageSize", b.MaxMessageSize) && b.MaxMessageSize > wire.MaxMessageSize-6 {
		bad("Budgets.MaxMessageSize %d above octez's bound %d", b.MaxMessageSize, wire.MaxMessageSize-6)
	}
}

// AdmissionConfig bounds the incoming handshakes and connections
// (Config.Admission). octez bounds only the handshakes in flight
// (MaxIncomingConnections); the rest are this pool's, for a node on a
// public address (see the README's Security section).
type AdmissionConfig struct {
	// MaxIncomingConnections bounds the incoming handshakes running at
	// once (octez max_incoming_connections). When all the slots are taken,
	// a newcomer evicts the oldest handshake of the most represented
	// subnet that has not sent its connection message or has been pending
	// over Timeouts.FirstMessage (RefusedHandshakeEvicted); only when no
	// handshake may be evicted is the newcomer closed at once
	// (RefusedTooManyIncoming), as octez closes every one. If zero, 20.
	MaxIncomingConnections int
	// MaxPendingPerAddr and MaxPendingPerSubnet bound the incoming
	// handshakes in flight from one address and from one subnet (octez
	// bounds only their total, MaxIncomingConnections). A socket over
	// either bound is closed at once. If zero, 2 and 4.
	MaxPendingPerAddr   int
	MaxPendingPerSubnet int
	// MaxIncomingPerAddr and MaxIncomingPerSubnet bound the established
	// incoming connections from one address and from one subnet; a peer
	// over either bound is nacked with Too_many_connections (octez has no
	// such bound). If zero, 4 and 10.
	MaxIncomingPerAddr   int
	MaxIncomingPerSubnet int
	// SubnetBitsIPv4, AddrBitsIPv6 and SubnetBitsIPv6 say what one address
	// and one subnet are for the bounds above and for eviction: an IPv4
	// address is itself and its subnet its /SubnetBitsIPv4; an IPv6
	// "address" is its /AddrBitsIPv6 (a host commonly holds a whole /64)
	// and its subnet its /SubnetBitsIPv6. If zero, /24, /64 and /48.
	SubnetBitsIPv4 int
	AddrBitsIPv6   int
	SubnetBitsIPv6 int
	// LimitLoopback applies the per-address and per-subnet bounds to
	// loopback addresses too. By default they are exempt: a local test
	// network puts every node on 127.0.0.1, and whoever connects from
	// loopback already runs on this host.
	LimitLoopback bool
	// HandshakeFailureLimit is how many incoming handshakes from one
	// address may time out, stall or be evicted (within ten minutes of
	// each other) before the address is greylisted, as a bad proof of
	// work is at once. octez never greylists for timeouts. If zero, 3;
	// int(Disabled) never greylists for them.
	HandshakeFailureLimit int
}

func (a AdmissionConfig) withDefaults() AdmissionConfig {
	setDefault(&a.MaxIncomingConnections, DefaultMaxIncomingConnections)
	setDefault(&a.MaxPendingPerAddr, DefaultMaxPendingPerAddr)
	setDefault(&a.MaxPendingPerSubnet, DefaultMaxPendingPerSubnet)
	setDefault(&a.MaxIncomingPerAddr, DefaultMaxIncomingPerAddr)
	setDefault(&a.MaxIncomingPerSubnet, DefaultMaxIncomingPerSubnet)
	setDefault(&a.SubnetBitsIPv4, DefaultSubnetBitsIPv4)
	setDefault(&a.AddrBitsIPv6, DefaultAddrBitsIPv6)
	setDefault(&a.SubnetBitsIPv6, DefaultSubnetBitsIPv6)
	setDefault(&a.HandshakeFailureLimit, DefaultHandshakeFailureLimit)
	return a
}

func (a AdmissionConfig) validate(bad func(format string, args ...any)) {
	nonNegative(bad, "Admission.MaxIncomingConnections", a.MaxIncomingConnections)
	nonNegative(bad, "Admission.MaxPendingPerAddr", a.MaxPendingPerAddr)
	nonNegative(bad, "Admission.MaxPendingPerSubnet", a.MaxPendingPerSubnet)
	nonNegative(bad, "Admission.MaxIncomingPerAddr", a.MaxIncomingPerAddr)
	nonNegative(bad, "Admission.MaxIncomingPerSubnet", a.MaxIncomingPerSubnet)
	ok := inRange(bad, "Admission.SubnetBitsIPv4", a.SubnetBitsIPv4, 0, 32)
	ok = inRange(bad, "Admission.AddrBitsIPv6", a.AddrBitsIPv6, 0, 128) && ok
	ok = inRange(bad, "Admission.SubnetBitsIPv6", a.SubnetBitsIPv6, 0, 128) && ok
	if r := a.withDefaults(); ok && r.SubnetBitsIPv6 > r.AddrBitsIPv6 {
		bad("Admission.SubnetBitsIPv6 %d is longer than AddrBitsIPv6 %d", r.SubnetBitsIPv6, r.AddrBitsIPv6)
	}
	if a.HandshakeFailureLimit < 0 && a.HandshakeFailureLimit != int(Disabled) {
		bad("Admission.HandshakeFailureLimit %d is negative (use int(Disabled))", a.HandshakeFailureLimit)
	}
}

// TimeoutConfig bounds dials, handshakes and connections that stall
// (Config.Timeouts).
type TimeoutConfig struct {
	// Connection bounds an outgoing connection: dial plus handshake
	// (octez connection_timeout). If zero, 10 s. It cannot be turned off.
	Connection time.Duration
	// Authentication bounds an incoming handshake (octez
	// authentication_timeout). If zero, 5 s. It cannot be turned off.
	Authentication time.Duration
	// FirstMessage bounds how long an incoming socket may take to deliver
	// the peer's whole connection message, the first bytes of the
	// handshake, which an honest peer sends as soon as it has connected;
	// Authentication still bounds the whole handshake. A socket that
	// sends nothing frees its slot after this, not after Authentication.
	// If zero, 2 s; Disabled leaves only Authentication (octez).
	FirstMessage time.Duration
	// Idle ends an established connection on which no message has gone
	// either way for this long (ReasonIdle). If zero, the default, which
	// is none: connections may idle forever, as in octez. Disabled is
	// none too.
	Idle time.Duration
	// Write ends a connection whose peer accepts no byte for this long
	// while we have some to send (ReasonWriteTimeout), so a peer that
	// never reads cannot pin a writer and its queue forever. Time spent
	// waiting for the bandwidth caps does not count. If zero, 60 s
	// (octez has no such bound); Disabled turns it off.
	Write time.Duration
}

func (t TimeoutConfig) withDefaults() TimeoutConfig {
	setDefault(&t.Connection, DefaultConnectionTimeout)
	setDefault(&t.Authentication, DefaultAuthenticationTimeout)
	setDefault(&t.FirstMessage, DefaultFirstMessageTimeout)
	// Idle's default is none: zero stays zero.
	setDefault(&t.Write, DefaultWriteTimeout)
	return t
}

func (t TimeoutConfig) validate(bad func(format string, args ...any)) {
	nonNegative(bad, "Timeouts.Connection", t.Connection)
	nonNegative(bad, "Timeouts.Authentication", t.Authentication)
	orDisabled(bad, "Timeouts.FirstMessage", t.FirstMessage)
	orDisabled(bad, "Timeouts.Idle", t.Idle)
	orDisabled(bad, "Timeouts.Write", t.Write)
}

// TableConfig bounds the known tables and their histories
// (Config.Tables).
type TableConfig struct {
	// MaxKnownPoints and MaxKnownPeerIDs bound the known tables (octez
	// max_known_points, max_known_peer_ids). If zero, {400, 300};
	// NoTableLimit leaves a table unbounded, as octez's None. Beware that
	// an unbounded points table grows with every point peers advertise
	// (at the rate Dial and Control allow): octez's default is bounded.
	MaxKnownPoints  TableLimit
	MaxKnownPeerIDs TableLimit
	// PeerIDsHistorySize and PointsHistorySize are the number of events
	// kept per peer and per point (octez known_peer_ids_history_size,
	// known_points_history_size). If zero, 100. They cannot be turned
	// off.
	PeerIDsHistorySize int
	PointsHistorySize  int
}

func (t TableConfig) withDefaults() TableConfig {
	if t.MaxKnownPoints == (TableLimit{}) {
		t.MaxKnownPoints = DefaultMaxKnownPoints
	}
	if t.MaxKnownPeerIDs == (TableLimit{}) {
		t.MaxKnownPeerIDs = DefaultMaxKnownPeerIDs
	}
	setDefault(&t.PeerIDsHistorySize, DefaultKnownPeerIDsHistorySize)
	setDefault(&t.PointsHistorySize, DefaultKnownPointsHistorySize)
	return t
}

func (t TableConfig) validate(bad func(format string, args ...any)) {
	r := t.withDefaults()
	for _, f := range []struct {
		name string
		l    TableLimit
	}{{"Tables.MaxKnownPoints", r.MaxKnownPoints}, {"Tables.MaxKnownPeerIDs", r.MaxKnownPeerIDs}} {
		if !f.l.unbounded() && (f.l.Low < 0 || f.l.High <= 0 || f.l.Low > f.l.High) {
			bad("%s needs 0 <= Low %d <= High %d, High > 0, or NoTableLimit", f.name, f.l.Low, f.l.High)
		}
	}
	nonNegative(bad, "Tables.PeerIDsHistorySize", t.PeerIDsHistorySize)
	nonNegative(bad, "Tables.PointsHistorySize", t.PointsHistorySize)
}

// GreylistConfig sizes the greylists (Config.Greylist).
type GreylistConfig struct {
	// Timeout is how long an address stays greylisted. octez parses
	// greylist_timeout but never uses it: its addresses decay with
	// ip_greylist_cleanup_delay (same 24 h default), one sixteenth at a
	// time, so an address stays greylisted 14/16 to 15/16 of it. This
	// field plays the role of that delay. If zero, 24 h. It cannot be
	// turned off.
	Timeout time.Duration
	// IPSizeKiB sizes the address greylist's Bloom filter (octez
	// ip_greylist_size_in_kilobytes; the filter takes 1 to 2 times this,
	// at most 8191). If zero, 2048. Unlike octez's, the filter takes
	// memory as addresses are greylisted, in 4 KiB pages, up to that
	// size, and gives it back as they decay: a pool that greylists
	// nothing holds none.
	IPSizeKiB int
	// PeerSize is how many peer ids the peer greylist holds before it
	// forgets the oldest (octez peer_greylist_size). If zero, 1023.
	PeerSize int
}

func (g GreylistConfig) withDefaults() GreylistConfig {
	setDefault(&g.Timeout, DefaultGreylistTimeout)
	setDefault(&g.IPSizeKiB, DefaultIPGreylistSizeKiB)
	setDefault(&g.PeerSize, DefaultPeerGreylistSize)
	return g
}

func (g GreylistConfig) validate(bad func(format string, args ...any)) {
	nonNegative(bad, "Greylist.Timeout", g.Timeout)
	inRange(bad, "Greylist.IPSizeKiB", g.IPSizeKiB, 0, 8191)
	nonNegative(bad, "Greylist.PeerSize", g.PeerSize)
}

// MaintenanceConfig paces the maintenance and the swaps
// (Config.Maintenance).
type MaintenanceConfig struct {
	// IdleTime is the longest the maintenance waits between two runs; it
	// also runs when the count crosses Limits.MinConnections or
	// Limits.MaxConnections and on Pool.Maintain (octez
	// maintenance_idle_time). If zero, 120 s; Disabled turns the
	// maintenance off, and then connections are refused at
	// MaxConnections instead of octez's max threshold.
	IdleTime time.Duration
	// SwapLinger is the least time between two swaps (octez swap_linger).
	// If zero, 30 s; Disabled ignores swap requests.
	SwapLinger time.Duration
}

func (m MaintenanceConfig) withDefaults() MaintenanceConfig {
	setDefault(&m.IdleTime, DefaultMaintenanceIdleTime)
	setDefault(&m.SwapLinger, DefaultSwapLinger)
	return m
}

func (m MaintenanceConfig) validate(bad func(format string, args ...any)) {
	orDisabled(bad, "Maintenance.IdleTime", m.IdleTime)
	orDisabled(bad, "Maintenance.SwapLinger", m.SwapLinger)
}

// PeersFileConfig is where and how often the known peers are saved
// (Config.PeersFile).
type PeersFileConfig struct {
	// Path is the path of the peers file (octez peers_file). If empty,
	// peers are not saved.
	Path string
	// SavePeriod is how often the peers file is saved while the pool
	// runs, on top of Shutdown and Peers().Save. If zero, 5 minutes;
	// Disabled saves only at Shutdown and on request.
	SavePeriod time.Duration
}

func (f PeersFileConfig) withDefaults() PeersFileConfig {
	setDefault(&f.SavePeriod, DefaultPeersFileSavePeriod)
	return f
}

func (f PeersFileConfig) validate(bad func(format string, args ...any)) {
	orDisabled(bad, "PeersFile.SavePeriod", f.SavePeriod)
}

// WireConfig is how this node writes messages and what a message of an
// undeclared tag costs the peer (Config.Wire).
type WireConfig struct {
	// BinaryChunksSize is the on-wire size of the chunks this node writes,
	// header and MAC included, in [19, 65535] (octez binary_chunks_size).
	// If zero, 65535.
	BinaryChunksSize int
	// ChunkPerMessage starts every message this node writes in a new
	// chunk, as octez's writer does. By default the writer seals what is
	// queued as one plaintext stream, filling each chunk with as many
	// messages as are waiting when it is sealed (never waiting for more):
	// octez's reader decodes the plaintext as a stream
	// (src/lib_p2p/p2p_socket.ml, read_message resumes read_stream), so
	// this is protocol-legal and 3 to 5 times cheaper for small messages.
	// Set it for peers whose reader needs each message to start a chunk
	// (tezedge).
	ChunkPerMessage bool
	// UnknownMessages says what a message whose tag no Encoding declares
	// costs the peer. If zero (UnknownMessagesGreylist), what octez does
	// with a message it cannot decode: the connection ends and the peer
	// and its address are greylisted. UnknownMessagesIgnore drops the
	// message, counts it (Stats.Messages.Unknown, ConnStat.Unknown) and
	// keeps the connection, so that a node declaring part of a message
	// set (say, the octez shell's) stays connected to peers that speak
	// all of it.
	UnknownMessages UnknownMessagePolicy
}

func (w WireConfig) withDefaults() WireConfig {
	setDefault(&w.BinaryChunksSize, socket.MaxChunkSize)
	return w
}

func (w WireConfig) validate(bad func(format string, args ...any)) {
	if w.BinaryChunksSize != 0 && (w.BinaryChunksSize < socket.MinChunkSize || w.BinaryChunksSize > socket.MaxChunkSize) {
		bad("Wire.BinaryChunksSize %d outside [%d, %d]", w.BinaryChunksSize, socket.MinChunkSize, socket.MaxChunkSize)
	}
	if w.UnknownMessages > UnknownMessagesIgnore {
		bad("Wire.UnknownMessages %v is not a policy", w.UnknownMessages)
	}
}

// Validate reports values that make no sense, instead of clamping them.
// Zero fields are valid: they mean the defaults. The errors come in the
// order of the fields, group by group, the same every time.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("p2ppool: config: "+format, args...)) }
	if c.Identity == nil {
		bad("Identity is required")
	} else if err := c.Identity.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ProofOfWorkTarget != NoProofOfWork && (c.ProofOfWorkTarget < 0 || c.ProofOfWorkTarget > 256 || c.ProofOfWorkTarget != c.ProofOfWorkTarget) {
		bad("ProofOfWorkTarget %v outside [0, 256] (use NoProofOfWork to accept any stamp)", c.ProofOfWorkTarget)
	}
	c.Network.validate(bad)
	c.Limits.validate(bad)
	c.Budgets.validate(bad)
	c.Admission.validate(bad)
	c.Timeouts.validate(bad)
	c.Tables.validate(bad)
	c.Greylist.validate(bad)
	c.Reconnection.validate(bad)
	c.Maintenance.validate(bad)
	c.PeersFile.validate(bad)
	c.Wire.validate(bad)
	if err := c.Control.validate(); err != nil {
		bad("%w", err)
	}
	c.Dial.validate(bad)
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with every zero field set to its
// default, group by group.
func (c Config) withDefaults() Config {
	if c.ProofOfWorkTarget == 0 {
		c.ProofOfWorkTarget = DefaultNodeProofOfWork
	}
	c.Network = c.Network.withDefaults()
	c.Limits = c.Limits.withDefaults()
	c.Budgets = c.Budgets.withDefaults()
	c.Admission = c.Admission.withDefaults()
	c.Timeouts = c.Timeouts.withDefaults()
	c.Tables = c.Tables.withDefaults()
	c.Greylist = c.Greylist.withDefaults()
	c.Reconnection = c.Reconnection.withDefaults()
	c.Maintenance = c.Maintenance.withDefaults()
	c.PeersFile = c.PeersFile.withDefaults()
	c.Wire = c.Wire.withDefaults()
	c.Control = c.Control.withDefaults()
	c.Dial = c.Dial.withDefaults()
	if c.Dialer == nil {
		c.Dialer = NewDialer()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	return c
}

// setDefault sets a zero *v to d.
func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// nonNegative reports a negative v through bad and whether v is valid.
func nonNegative[T int | int64 | time.Duration](bad func(format string, args ...any), name string, v T) bool {
	if v < 0 {
		bad("%s %v is negative", name, v)
		return false
	}
	return true
}

// orDisabled reports a negative v other than Disabled through bad.
func orDisabled[T int | int64 | time.Duration](bad func(format string, args ...any), name string, v T) {
	if v < 0 && v != T(Disabled) {
		bad("%s %v is negative (use Disabled to turn it off)", name, v)
	}
}

// inRange reports v outside [lo, hi] through bad and whether it is in.
func inRange(bad func(format string, args ...any), name string, v, lo, hi int) bool {
	if v < lo || v > hi {
		bad("%s %d outside [%d, %d]", name, v, lo, hi)
		return false
	}
	return true
}
