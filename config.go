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
	"github.com/p2ppool/p2ppool/internal/wire"
)

// NoProofOfWork is the difficulty of no proof of work at all (octez
// target 0, used by sandboxes and tests): as Config.ProofOfWorkTarget it
// accepts peers whatever their stamp; GenerateIdentity makes an identity
// at once; CheckProofOfWork and LoadIdentity accept any stamp. A
// difficulty of zero means DefaultNodeProofOfWork everywhere.
const NoProofOfWork = -1.0

// Disabled, as a Config duration that can be turned off (SwapLinger),
// turns the feature off (octez None).
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

// NoTableLimit, as Config.MaxKnownPoints or Config.MaxKnownPeerIDs, leaves
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

// UnknownMessagePolicy is what a message with an undeclared tag costs
// the peer (Config.UnknownMessages).
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

// Config is the pool's configuration, octez's P2p.config and P2p_limits in
// one plain struct. A zero field means the octez default named in its
// comment; New copies the Config and never writes to it. Identity is the
// only required field.
type Config struct {
	// Identity is this node's key pair and proof-of-work stamp. Required.
	Identity *Identity
	// ProofOfWorkTarget is the difficulty, in bits, that peers' stamps must
	// meet (octez proof_of_work_target). If zero, 26, the octez node
	// default (DefaultNodeProofOfWork); NoProofOfWork accepts any stamp.
	ProofOfWorkTarget float64
	// TrustedPoints are points the pool trusts (octez trusted_points): in
	// a closed network only they may connect.
	TrustedPoints []netip.AddrPort
	// PeersFile is the path of the peers file (octez peers_file). If
	// empty, peers are not saved.
	PeersFile string
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
	// MinConnections, ExpectedConnections and MaxConnections bound the
	// number of connections (octez min/expected/max_connections). If
	// zero, 10, 50 and 100.
	MinConnections      int
	ExpectedConnections int
	MaxConnections      int
	// MaxIncomingConnections bounds the incoming handshakes running at
	// once (octez max_incoming_connections). When all the slots are taken,
	// a newcomer evicts the oldest handshake of the most represented
	// subnet that has not sent its connection message or has been pending
	// over FirstMessageTimeout (RefusedHandshakeEvicted); only when no
	// handshake may be evicted is the newcomer closed at once
	// (RefusedTooManyIncoming), as octez closes every one. If zero, 20.
	MaxIncomingConnections int
	// ConnectionTimeout bounds an outgoing connection: dial plus handshake
	// (octez connection_timeout). If zero, 10 s.
	ConnectionTimeout time.Duration
	// AuthenticationTimeout bounds an incoming handshake (octez
	// authentication_timeout). If zero, 5 s.
	AuthenticationTimeout time.Duration
	// GreylistTimeout is how long an address stays greylisted. octez
	// parses greylist_timeout but never uses it: its addresses decay with
	// ip_greylist_cleanup_delay (same 24 h default), one sixteenth at a
	// time, so an address stays greylisted 14/16 to 15/16 of it. This
	// field plays the role of that delay. If zero, 24 h.
	GreylistTimeout time.Duration
	// IncomingAppMessageQueueSize is the number of decoded application
	// messages buffered per connection (octez
	// incoming_app_message_queue_size). When the queue is full the
	// connection's reader stops reading the socket, so TCP pushes back on
	// the peer; nothing is dropped. Besides the queue, the reader holds
	// at most 256 messages (64 KiB of them) that it has decoded from what
	// arrived and queues together. Connection.ReadBatch and
	// Pool.ReadBatch take up to this many at once. If zero, 10.
	IncomingAppMessageQueueSize int
	// IncomingMessageQueueSize bounds, in bytes, what one connection
	// holds of incoming messages: those queued for Read plus the one being
	// reassembled (octez incoming_message_queue_size, the bytes between
	// its socket reader and its connection worker). A message counts as
	// the larger of its wire size and what its decoded form may hold
	// (Encoding.DecodedSize), so a message that decodes to more than it
	// weighs on the wire is budgeted at what it costs. The reader reserves
	// that for a message still arriving as soon as its size prefix and tag
	// are in, before reading and decoding the rest (for one that arrived
	// whole, as it queues it) and, when the bound is reached, stops
	// reading until Read makes room, so TCP pushes back on the peer;
	// nothing is dropped. A message larger than the bound is still taken
	// into an empty queue. If zero, 8 MiB.
	IncomingMessageQueueSize int
	// TotalIncomingQueueSize bounds the same bytes summed over every
	// connection of the pool: a reader waits for room here too, so many
	// peers sending large messages to an application that reads slowly
	// hold at most this much between them, plus the first 64 KiB queued
	// on each connection, which are its own. One message is taken
	// whatever its count if the budget is otherwise free. Besides, each
	// connection's reader holds its buffers, at most a chunk sealed and
	// one open (64 KiB each), and, while it decodes them, the messages
	// that arrived whole in them. If zero, 64 MiB.
	TotalIncomingQueueSize int
	// MaxMessageSize bounds the body of an application message whose
	// Encoding sets no MaxLength, in both directions; a peer that
	// announces a larger message is cut before anything is allocated for
	// it, and its address greylisted. octez's only bound is 100 MiB. If
	// zero, 8 MiB, more than any message of the octez shell carries in
	// practice (the largest, Protocol, holds a protocol's sources).
	MaxMessageSize int
	// OutgoingMessageQueueSize bounds, in bytes held, each connection's
	// outgoing queue (octez outgoing_message_queue_size): encoded
	// messages, small ones packed into buffers of up to 16 KiB that count
	// whole however little they hold. When it is full,
	// Write blocks and WriteNow and WriteAll drop; a single message larger
	// than the bound is still accepted into an empty queue. If zero, 8 MiB.
	OutgoingMessageQueueSize int
	// TotalOutgoingQueueSize bounds the same bytes summed over every
	// connection of the pool, with those each writer has taken and not
	// yet written, beyond the first 64 KiB of each connection, which are
	// its own, so that peers that never read cannot stop another
	// connection from sending. (A writer stuck on a peer that does not
	// read also holds the sealed bytes it is writing: a batch goes out
	// sealed a 64 KiB piece at a time, so at most 128 KiB.) When it is spent, Write waits (until its
	// context or the connection ends) and WriteNow, WriteAll and the
	// pool's own messages drop and count (ErrOutgoingBudgetFull, an
	// ErrQueueFull; Stats.OutgoingBudgetDrops). A broadcast larger than
	// 2 KiB is one copy for all its connections and counts once here
	// (each connection's own bound counts it whole). octez bounds each
	// connection only, and so did this pool: 40 peers that never read
	// their echoes held 694 MiB. If zero, 32 MiB: four connections'
	// whole queues, far more than a writer needs in flight (its batches
	// are 256 KiB), so no throughput is lost, and with 100 connections
	// at most 38.25 MiB in all.
	TotalOutgoingQueueSize int
	// KnownPeerIDsHistorySize and KnownPointsHistorySize are the number of
	// events kept per peer and per point. If zero, 100.
	KnownPeerIDsHistorySize int
	KnownPointsHistorySize  int
	// MaxKnownPoints and MaxKnownPeerIDs bound the known tables (octez
	// max_known_points, max_known_peer_ids). If zero, {400, 300};
	// NoTableLimit leaves a table unbounded, as octez's None. Beware that
	// an unbounded points table grows with every point peers advertise
	// (at the rate Dial and Control allow): octez's default is bounded.
	MaxKnownPoints  TableLimit
	MaxKnownPeerIDs TableLimit
	// IPGreylistSizeKiB sizes the address greylist's Bloom filter (octez
	// ip_greylist_size_in_kilobytes; the filter takes 1 to 2 times this,
	// at most 8191). If zero, 2048. Unlike octez's, the filter takes
	// memory as addresses are greylisted, in 4 KiB pages, up to that
	// size, and gives it back as they decay: a pool that greylists
	// nothing holds none.
	IPGreylistSizeKiB int
	// PeerGreylistSize is how many peer ids the peer greylist holds before
	// it forgets the oldest (octez peer_greylist_size). If zero, 1023.
	PeerGreylistSize int
	// Reconnection is the back-off applied to points whose connections
	// fail or end (octez greylisting_config). Zero fields mean octez's.
	Reconnection ReconnectionConfig
	// PeersFileSavePeriod is how often the peers file is saved while the
	// pool runs, on top of Shutdown and Peers().Save. If zero, 5 minutes;
	// Disabled saves only at Shutdown and on request.
	PeersFileSavePeriod time.Duration
	// MaxDownloadSpeed and MaxUploadSpeed cap, in bytes per second, the
	// pool's total inflow and outflow, shared fairly between connections
	// (octez max_download_speed / max_upload_speed, which are KiB/s: multiply
	// by 1024). If zero, unlimited, as in octez.
	MaxDownloadSpeed int64
	MaxUploadSpeed   int64
	// MaxConnDownloadSpeed and MaxConnUploadSpeed cap each connection, in
	// bytes per second (octez has no such cap). If zero, unlimited.
	MaxConnDownloadSpeed int64
	MaxConnUploadSpeed   int64
	// MaintenanceIdleTime is the longest the maintenance waits between two
	// runs; it also runs when the count crosses MinConnections or
	// MaxConnections and on Pool.Maintain (octez maintenance_idle_time).
	// If zero, 120 s; Disabled turns the maintenance off, and then
	// connections are refused at MaxConnections instead of octez's max
	// threshold.
	MaintenanceIdleTime time.Duration
	// SwapLinger is the least time between two swaps (octez swap_linger).
	// If zero, 30 s; Disabled ignores swap requests.
	SwapLinger time.Duration
	// BinaryChunksSize is the on-wire size of the chunks this node writes,
	// header and MAC included, in [19, 65535] (octez binary_chunks_size).
	// If zero, 65535.
	BinaryChunksSize int
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
	// FirstMessageTimeout bounds how long an incoming socket may take to
	// deliver the peer's whole connection message, the first bytes of
	// the handshake, which an honest peer sends as soon as it has
	// connected; AuthenticationTimeout still bounds the whole handshake.
	// A socket that sends nothing frees its slot after this, not after
	// AuthenticationTimeout. If zero, 2 s; Disabled leaves only
	// AuthenticationTimeout (octez).
	FirstMessageTimeout time.Duration
	// HandshakeFailureLimit is how many incoming handshakes from one
	// address may time out, stall or be evicted (within ten minutes of
	// each other) before the address is greylisted, as a bad proof of
	// work is at once. octez never greylists for timeouts. If zero, 3;
	// Disabled never greylists for them.
	HandshakeFailureLimit int
	// IdleTimeout ends an established connection on which no message has
	// gone either way for this long (ReasonIdle). If zero, connections
	// may idle forever, as in octez.
	IdleTimeout time.Duration
	// WriteTimeout ends a connection whose peer accepts no byte for this
	// long while we have some to send (ReasonWriteTimeout), so a peer
	// that never reads cannot pin a writer and its queue forever. Time
	// spent waiting for the bandwidth caps does not count. If zero, 60 s
	// (octez has no such bound); Disabled turns it off.
	WriteTimeout time.Duration
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
	// message, counts it (Stats.UnknownMessages, ConnStat.Unknown) and
	// keeps the connection, so that a node declaring part of a message
	// set (say, the octez shell's) stays connected to peers that speak
	// all of it.
	UnknownMessages UnknownMessagePolicy
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
	// Dialer opens outgoing connections. If nil, a *net.Dialer.
	Dialer Dialer
	// Logger receives the pool's logs; peers' misbehaviour is logged at
	// Debug. If nil, logs are discarded.
	Logger *slog.Logger
	// Metrics receives the pool's events (connections opened and closed,
	// failed handshakes, refusals, drops, bytes) for a monitoring system.
	// If nil, NopMetrics.
	Metrics Metrics
}

// Validate reports values that make no sense, instead of clamping them.
// Zero fields are valid: they mean the defaults.
func (c *Config) Validate() error {
	r := c.withDefaults()
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
	if c.MinConnections < 0 || c.ExpectedConnections < 0 || c.MaxConnections < 0 || c.MaxIncomingConnections < 0 {
		bad("connection counts must not be negative")
	} else if !(r.MinConnections <= r.ExpectedConnections && r.ExpectedConnections <= r.MaxConnections) {
		bad("connection bounds need min %d <= expected %d <= max %d", r.MinConnections, r.ExpectedConnections, r.MaxConnections)
	}
	for name, d := range map[string]time.Duration{
		"ConnectionTimeout": c.ConnectionTimeout, "AuthenticationTimeout": c.AuthenticationTimeout,
		"GreylistTimeout": c.GreylistTimeout,
	} {
		if d < 0 {
			bad("%s %v is negative", name, d)
		}
	}
	for name, d := range map[string]time.Duration{
		"FirstMessageTimeout": c.FirstMessageTimeout, "WriteTimeout": c.WriteTimeout,
	} {
		if d < 0 && d != Disabled {
			bad("%s %v is negative (use Disabled)", name, d)
		}
	}
	if c.UnknownMessages > UnknownMessagesIgnore {
		bad("UnknownMessages %v is not a policy", c.UnknownMessages)
	}
	if c.IdleTimeout < 0 {
		bad("IdleTimeout %v is negative", c.IdleTimeout)
	}
	if c.HandshakeFailureLimit < 0 && c.HandshakeFailureLimit != int(Disabled) {
		bad("HandshakeFailureLimit %d is negative (use int(Disabled))", c.HandshakeFailureLimit)
	}
	if c.SubnetBitsIPv4 < 0 || c.SubnetBitsIPv4 > 32 || c.AddrBitsIPv6 < 0 || c.AddrBitsIPv6 > 128 || c.SubnetBitsIPv6 < 0 || c.SubnetBitsIPv6 > 128 {
		bad("subnet bits outside [0, 32] (IPv4) or [0, 128] (IPv6)")
	} else if r.SubnetBitsIPv6 > r.AddrBitsIPv6 {
		bad("SubnetBitsIPv6 %d is longer than AddrBitsIPv6 %d", r.SubnetBitsIPv6, r.AddrBitsIPv6)
	}
	if r.MaxMessageSize > wire.MaxMessageSize-6 {
		bad("MaxMessageSize %d above octez's bound %d", r.MaxMessageSize, wire.MaxMessageSize-6)
	}
	if c.MaxDownloadSpeed < 0 || c.MaxUploadSpeed < 0 || c.MaxConnDownloadSpeed < 0 || c.MaxConnUploadSpeed < 0 {
		bad("speed limits must not be negative")
	}
	if c.IPGreylistSizeKiB < 0 || c.IPGreylistSizeKiB > 8191 {
		bad("IPGreylistSizeKiB %d outside [0, 8191]", c.IPGreylistSizeKiB)
	}
	if c.PeerGreylistSize < 0 {
		bad("PeerGreylistSize %d is negative", c.PeerGreylistSize)
	}
	if rc := c.Reconnection; rc.Factor < 0 || rc.InitialDelay < 0 || rc.DisconnectionDelay < 0 || rc.IncreaseCap < 0 {
		bad("Reconnection fields must not be negative")
	}
	if c.PeersFileSavePeriod < 0 && c.PeersFileSavePeriod != Disabled {
		bad("PeersFileSavePeriod %v is negative (use Disabled)", c.PeersFileSavePeriod)
	}
	if c.MaintenanceIdleTime < 0 && c.MaintenanceIdleTime != Disabled {
		bad("MaintenanceIdleTime %v is negative (use Disabled)", c.MaintenanceIdleTime)
	}
	if c.SwapLinger < 0 && c.SwapLinger != Disabled {
		bad("SwapLinger %v is negative (use Disabled to turn swaps off)", c.SwapLinger)
	}
	for name, n := range map[string]int{
		"IncomingAppMessageQueueSize": c.IncomingAppMessageQueueSize, "IncomingMessageQueueSize": c.IncomingMessageQueueSize,
		"OutgoingMessageQueueSize": c.OutgoingMessageQueueSize, "KnownPeerIDsHistorySize": c.KnownPeerIDsHistorySize,
		"KnownPointsHistorySize": c.KnownPointsHistorySize, "TotalIncomingQueueSize": c.TotalIncomingQueueSize,
		"TotalOutgoingQueueSize": c.TotalOutgoingQueueSize,
		"MaxMessageSize":         c.MaxMessageSize, "MaxPendingPerAddr": c.MaxPendingPerAddr, "MaxPendingPerSubnet": c.MaxPendingPerSubnet,
		"MaxIncomingPerAddr": c.MaxIncomingPerAddr, "MaxIncomingPerSubnet": c.MaxIncomingPerSubnet,
	} {
		if n < 0 {
			bad("%s %d is negative", name, n)
		}
	}
	for name, l := range map[string]TableLimit{"MaxKnownPoints": r.MaxKnownPoints, "MaxKnownPeerIDs": r.MaxKnownPeerIDs} {
		if !l.unbounded() && (l.Low < 0 || l.High <= 0 || l.Low > l.High) {
			bad("%s needs 0 <= Low %d <= High %d, High > 0, or NoTableLimit", name, l.Low, l.High)
		}
	}
	if c.BinaryChunksSize != 0 && (c.BinaryChunksSize < socket.MinChunkSize || c.BinaryChunksSize > socket.MaxChunkSize) {
		bad("BinaryChunksSize %d outside [%d, %d]", c.BinaryChunksSize, socket.MinChunkSize, socket.MaxChunkSize)
	}
	if err := c.Control.validate(); err != nil {
		bad("%w", err)
	}
	c.Dial.validate(bad)
	for _, p := range c.TrustedPoints {
		if !p.IsValid() {
			bad("trusted point %v is not valid", p)
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with every zero field set to its
// default.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.ProofOfWorkTarget == 0 {
		c.ProofOfWorkTarget = DefaultNodeProofOfWork
	}
	def(&c.MinConnections, DefaultMinConnections)
	def(&c.ExpectedConnections, DefaultExpectedConnections)
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxIncomingConnections, DefaultMaxIncomingConnections)
	defD(&c.ConnectionTimeout, DefaultConnectionTimeout)
	defD(&c.AuthenticationTimeout, DefaultAuthenticationTimeout)
	defD(&c.GreylistTimeout, DefaultGreylistTimeout)
	def(&c.IncomingAppMessageQueueSize, DefaultIncomingAppMessageQueueSize)
	def(&c.IncomingMessageQueueSize, DefaultIncomingMessageQueueSize)
	def(&c.OutgoingMessageQueueSize, DefaultOutgoingMessageQueueSize)
	def(&c.KnownPeerIDsHistorySize, DefaultKnownPeerIDsHistorySize)
	def(&c.KnownPointsHistorySize, DefaultKnownPointsHistorySize)
	if c.MaxKnownPoints == (TableLimit{}) {
		c.MaxKnownPoints = DefaultMaxKnownPoints
	}
	if c.MaxKnownPeerIDs == (TableLimit{}) {
		c.MaxKnownPeerIDs = DefaultMaxKnownPeerIDs
	}
	defD(&c.SwapLinger, DefaultSwapLinger)
	defD(&c.MaintenanceIdleTime, DefaultMaintenanceIdleTime)
	def(&c.IPGreylistSizeKiB, DefaultIPGreylistSizeKiB)
	def(&c.PeerGreylistSize, DefaultPeerGreylistSize)
	c.Reconnection = c.Reconnection.withDefaults()
	defD(&c.PeersFileSavePeriod, DefaultPeersFileSavePeriod)
	def(&c.BinaryChunksSize, socket.MaxChunkSize)
	def(&c.MaxMessageSize, DefaultMaxMessageSize)
	def(&c.TotalIncomingQueueSize, DefaultTotalIncomingQueueSize)
	def(&c.TotalOutgoingQueueSize, DefaultTotalOutgoingQueueSize)
	def(&c.MaxPendingPerAddr, DefaultMaxPendingPerAddr)
	def(&c.MaxPendingPerSubnet, DefaultMaxPendingPerSubnet)
	def(&c.MaxIncomingPerAddr, DefaultMaxIncomingPerAddr)
	def(&c.MaxIncomingPerSubnet, DefaultMaxIncomingPerSubnet)
	def(&c.SubnetBitsIPv4, DefaultSubnetBitsIPv4)
	def(&c.AddrBitsIPv6, DefaultAddrBitsIPv6)
	def(&c.SubnetBitsIPv6, DefaultSubnetBitsIPv6)
	defD(&c.FirstMessageTimeout, DefaultFirstMessageTimeout)
	def(&c.HandshakeFailureLimit, DefaultHandshakeFailureLimit)
	defD(&c.WriteTimeout, DefaultWriteTimeout)
	c.Control = c.Control.withDefaults()
	c.Dial = c.Dial.withDefaults()
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	c.TrustedPoints = append([]netip.AddrPort(nil), c.TrustedPoints...)
	return c
}
