package socket

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Remote is what the handshake learnt about the peer.
type Remote struct {
	PeerID    [16]byte
	PublicKey crypto.PublicKey
	// Port is the listening port from the remote's connection message,
	// 0 if it announced none.
	Port uint16
	// Version is the network version the remote announced.
	Version wire.NetworkVersion
	// Metadata is the remote's connection metadata chunk, undecoded.
	Metadata []byte
}

// AuthConn is a connection whose first half of the handshake (connection
// messages and metadata) is done: the peer is identified and the channel is
// encrypted, but neither side has accepted yet. The caller runs its
// admission checks, then calls exactly one of Accept, Nack or Close. Not
// safe for concurrent use.
type AuthConn struct {
	c        *Conn
	remote   Remote
	incoming bool
	// acked: our ack went out with our metadata (ExchangeMetadata).
	acked bool
	ctx   context.Context
	// deadline is the handshake's: the earlier of ctx's and Timeout's
	// end, zero if neither. It is the socket's deadline, not a context's
	// timer: Timeout costs no context, timer and callback of its own.
	deadline time.Time
	// stopWatch detaches the context watcher that aborts blocked I/O; it
	// runs when the handshake ends.
	stopWatch func() bool
	// sync: writes of at most syncWriteMax bytes cannot block on the
	// peer (see exchange).
	sync bool

	// Inline room for the handshake's own bytes, so that a usual
	// handshake allocates none of them: both connection messages (kept
	// until the nonces are derived), the remote's metadata (which
	// Remote().Metadata points into) and what one exchange sends
	// (metadata, maybe with our ack, then the ack: each exchange ends
	// before the next begins).
	// Bigger ones go to the heap.
	nonce   crypto.Nonce // ours, in the connection message
	sentBuf [connMsgInline]byte
	recvBuf [connMsgInline]byte
	metaBuf [metaInline]byte
	sealBuf [sealInline]byte
}

// Sizes of AuthConn's inline buffers: an octez connection message with a
// chain name of up to about 100 bytes, and metadata or an ack of up to 64
// bytes (octez's metadata is 2).
const (
	connMsgInline = 256
	metaInline    = 64
	sealInline    = chunkOverhead + metaInline + chunkOverhead + 1 // metadata, and an ack with it
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and
// writes return at once (the trick of net/http).
var aLongTimeAgo = time.Unix(1, 0)

// Authenticate runs the first half of the octez handshake on nc: both sides
// send their connection message without waiting, check the peer's proof of
// work, derive the channel key and nonces, and exchange metadata. incoming
// says whether we accepted nc (responder) or dialled it (initiator); it
// decides the nonce roles. The whole handshake, through Accept or Nack, is
// bounded by ctx and cfg.Timeout; when either ends, blocked I/O is aborted.
// On error nc is closed and the error is a *HandshakeError.
func Authenticate(ctx context.Context, nc net.Conn, incoming bool, cfg *Config) (*AuthConn, error) {
	a, err := Hello(ctx, nc, incoming, cfg)
	if err != nil {
		return nil, err
	}
	if err := a.ExchangeMetadata(cfg, false); err != nil {
		return nil, err
	}
	return a, nil
}

// Hello runs the handshake's first step only: both sides' connection
// messages, the proof-of-work check and the channel key. The peer is
// named (Remote has all but Metadata) but has proven nothing: its
// connection message is public and may be replayed by anyone. The caller
// must call ExchangeMetadata next; Authenticate is both. On error nc is
// closed and the error is a *HandshakeError.
func Hello(ctx context.Context, nc net.Conn, incoming bool, cfg *Config) (*AuthConn, error) {
	if err := cfg.Validate(); err != nil {
		nc.Close()
		return nil, err
	}
	a := newAuthConn(ctx, nc, incoming, cfg)
	if err := a.exchangeConnectionMessages(cfg); err != nil {
		return nil, a.fail(StageConnectionMessage, err)
	}
	return a, nil
}

// ExchangeMetadata runs the handshake's second step, with the Config
// given to Hello: both sides' metadata chunk, the first encrypted one,
// whose deciphering proves that the peer holds the secret key of the
// public key it announced. After it the caller calls exactly one of
// Accept, Nack or Close.
//
// With ack set, our ack goes out in the same write as our metadata, one
// exchange earlier than octez sends it: the bytes on the wire are octez's,
// in octez's order, and an octez peer reads them in turn. It saves each
// side a write and the handshake a round of wake-ups when both sides do
// it. The caller must then accept or close, never nack, and should set it
// only when it is all but sure to accept (see the pool's clearToAck): an
// ack tells the peer nothing but that we are ready to read its messages,
// and a refusal after it can only close the connection.
//
// On error the connection is closed and the error is a *HandshakeError.
func (a *AuthConn) ExchangeMetadata(cfg *Config, ack bool) error {
	if err := a.exchangeMetadata(cfg, ack); err != nil {
		return a.fail(StageMetadata, err)
	}
	return nil
}

// Acked reports whether our ack went out with our metadata
// (ExchangeMetadata(true)).
func (a *AuthConn) Acked() bool { return a.acked }

// newAuthConn starts a handshake on nc: its deadline, the earlier of
// ctx's and cfg.Timeout's end, and the watcher that aborts blocked I/O
// when ctx ends. cfg must be valid.
func newAuthConn(ctx context.Context, nc net.Conn, incoming bool, cfg *Config) *AuthConn {
	deadline, _ := ctx.Deadline()
	if cfg.Timeout > 0 {
		if d := time.Now().Add(cfg.Timeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	// The deadline goes first: the watcher, registered next, must have
	// the last word, or a cancellation landing in between would be
	// overwritten and the handshake would run to its full timeout.
	if !deadline.IsZero() {
		nc.SetDeadline(deadline)
	}
	return &AuthConn{
		c:        newConn(nc, cfg),
		incoming: incoming,
		ctx:      ctx,
		deadline: deadline,
		stopWatch: context.AfterFunc(ctx, func() {
			nc.SetDeadline(aLongTimeAgo)
		}),
		sync: kernelBuffered(nc),
	}
}

// Remote returns what the handshake learnt about the peer.
func (a *AuthConn) Remote() *Remote { return &a.remote }

// Accept sends our ack, unless it went out with our metadata, and reads
// the peer's. On success the handshake
// bounds are lifted and the returned Conn carries messages. If the peer
// nacked, the error wraps a *RejectedError.
func (a *AuthConn) Accept() (*Conn, error) {
	var ack wire.Ack
	var out []byte
	if !a.acked {
		out = a.sealAck(a.sealBuf[:0])
	}
	err := a.exchange(StageAck, out, func() error {
		pt, err := a.c.readHandshakeChunk()
		if err != nil {
			return err
		}
		ack, err = wire.DecodeAck(pt)
		return err
	})
	if err == nil && ack.Kind != wire.AckOK {
		err = &RejectedError{Motive: ack.Motive, Points: ack.Points}
	}
	if err != nil {
		return nil, a.fail(StageAck, err)
	}
	if !a.stopWatch() {
		// The context ended while we were finishing: the watcher ran (or
		// is about to) and set a past deadline, so the connection is not
		// usable.
		return nil, a.fail(StageAck, os.ErrDeadlineExceeded)
	}
	if err := a.c.nc.SetDeadline(time.Time{}); err != nil {
		return nil, a.fail(StageAck, err)
	}
	return a.c, nil
}

// Nack rejects the peer with motive and alternative points, then closes the
// connection without reading the peer's ack, as octez does. A peer that
// announced p2p version 0 gets a Nack_v_0, which carries neither.
func (a *AuthConn) Nack(motive wire.NackMotive, points []netip.AddrPort) error {
	if a.acked {
		a.Close()
		return errNackAfterAck
	}
	ack := wire.Ack{Kind: wire.AckNackV0}
	if a.remote.Version.P2P > 0 {
		if len(points) > wire.MaxNackPoints {
			points = points[:wire.MaxNackPoints]
		}
		ack = wire.Ack{Kind: wire.AckNack, Motive: motive, Points: points}
	}
	// The peer may be writing at the same moment: its ack, or its own nack
	// when both sides refuse each other. What it sends is read and
	// discarded while we write, or on an unbuffered transport (net.Pipe)
	// the two writes would wait for each other until the timeout; it also
	// keeps unread bytes from turning our close into a TCP reset that
	// could destroy the nack in flight. Closing ends the drain.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, a.c.nc)
	}()
	_, err := a.c.nc.Write(a.c.sealHandshakeChunk(nil, ack.Append(nil)))
	if err != nil {
		err = a.fail(StageAck, err)
	} else {
		a.Close()
	}
	<-drained
	return err
}

// errNackAfterAck is Nack's error after ExchangeMetadata(true): the
// peer has our ack, and the connection is closed instead.
var errNackAfterAck = errors.New("p2ppool: nack after our ack went out with the metadata: connection closed instead")

// Close abandons the handshake and closes the connection.
func (a *AuthConn) Close() error {
	a.stopWatch()
	err := a.c.Close()
	a.c.Free()
	return err
}

func (a *AuthConn) fail(stage Stage, err error) error {
	err = a.classify(err) // before Close, which cancels the context
	a.Close()
	return &HandshakeError{Stage: stage, Peer: a.remote.PeerID, Err: err}
}

// classify turns the I/O errors of an aborted handshake into the errors
// callers match on: a deadline from Timeout becomes ErrTimeout, one from
// ctx, or its cancellation, the context's cause (context.Cause: the
// caller's own cause, context.DeadlineExceeded, context.Canceled); an
// early close becomes ErrClosedDuringHandshake.
func (a *AuthConn) classify(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) && a.ctx.Err() != nil {
		if d, ok := a.ctx.Deadline(); ok && a.ctx.Err() == nil && !time.Now().Before(d) {
			// The socket's deadline is the context's and has passed: its
			// timer fires now, and its cause says whose deadline it was.
			// (A deadline of Timeout's own leaves the context alive:
			// ErrTimeout below.)
			<-a.ctx.Done()
		}
		switch cause := context.Cause(a.ctx); {
		case cause == nil, errors.Is(cause, ErrTimeout):
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		default:
			return cause
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %w", ErrClosedDuringHandshake, err)
	}
	return err
}

// exchange writes out while running read, as both octez sides write before
// reading. If the read succeeded, its result wins over a failed write: a
// peer that nacks closes without reading our ack.
//
// On a kernel socket (a.sync) a write this small cannot wait for the peer
// to read: the handshake sends at most three of them before reading the
// peer's last one, less than the smallest send buffer Linux allows, so the
// write goes first, on this goroutine. Any other transport may be
// unbuffered (net.Pipe), where both peers writing would deadlock: the
// write runs on its own goroutine, and a read error aborts it.
func (a *AuthConn) exchange(stage Stage, out []byte, read func() error) error {
	if a.sync && len(out) <= syncWriteMax {
		// The read runs even when the write failed, and its error wins,
		// as on the goroutine path: what the peer sent before breaking
		// the connection (a chunk that fails to decipher, a nack) says
		// more than our write's EPIPE, and decides greylisting. A broken
		// or timed-out connection fails the read at once.
		var werr error
		if len(out) > 0 { // else an ack that went out with the metadata
			_, werr = a.c.nc.Write(out)
		}
		if err := read(); err != nil {
			return err
		}
		if werr != nil && stage != StageAck {
			return werr
		}
		return nil
	}
	if len(out) == 0 { // an ack that went out with the metadata
		return read()
	}
	werr := make(chan error, 1)
	go func() {
		_, err := a.c.nc.Write(out)
		werr <- err
	}()
	if err := read(); err != nil {
		a.c.nc.SetDeadline(aLongTimeAgo)
		<-werr
		return err
	}
	if err := <-werr; err != nil && stage != StageAck {
		return err
	}
	return nil
}

func (a *AuthConn) exchangeConnectionMessages(cfg *Config) error {
	// The steps before and after the exchange are functions of their
	// own, kept out of line, and called from here, not from each other:
	// the exchange's reads, the hashes and the scalar multiplication run
	// on top of this frame, and an incoming handshake fits in a 4 KB
	// stack only when the frames under them are small (the pool's
	// TestHandshakeFitsInFourKB).
	sent, err := a.buildConnectionMessage(cfg)
	if err != nil {
		return err
	}
	var recv []byte
	if err := a.exchange(StageConnectionMessage, sent, func() error {
		// Through the connection's input buffer, which reads what has
		// arrived: usually the whole message in one read, and anything
		// after it (the peer's metadata chunk) stays there for the
		// chunk reader.
		restore := a.firstMessageDeadline(cfg.FirstMessageTimeout)
		c := a.c
		if err := c.fill(2); err != nil {
			return restore(err)
		}
		n := 2 + int(binary.BigEndian.Uint16(c.in[c.inStart:]))
		if err := c.fill(n); err != nil {
			return restore(err)
		}
		recv = a.recvBuf[:]
		if n <= len(recv) {
			recv = recv[:n]
		} else {
			recv = make([]byte, n)
		}
		c.inStart += copy(recv, c.in[c.inStart:c.inStart+n])
		return restore(nil)
	}); err != nil {
		return err
	}
	if err := a.acceptConnectionMessage(cfg, recv); err != nil {
		return err
	}
	if err := a.deriveKey(cfg); err != nil {
		return err
	}
	a.c.wnonce, a.c.rnonce = crypto.DeriveNonces(sent, recv, a.incoming)
	return nil
}

// buildConnectionMessage draws our nonce and frames our connection
// message into a.sentBuf (or the heap, if it does not fit).
//
//go:noinline
func (a *AuthConn) buildConnectionMessage(cfg *Config) ([]byte, error) {
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	// Read into a.nonce, not a local: rnd is an interface, so what it
	// is handed escapes, and a's memory is already on the heap.
	if _, err := io.ReadFull(rnd, a.nonce[:]); err != nil {
		return nil, err
	}
	msg := wire.ConnectionMessage{
		Port:             cfg.Port,
		PublicKey:        cfg.PublicKey,
		ProofOfWorkStamp: cfg.ProofOfWorkStamp,
		MessageNonce:     a.nonce,
		Version:          cfg.Version,
	}
	return msg.AppendFrame(a.sentBuf[:0])
}

// acceptConnectionMessage decodes the peer's connection message recv
// into a.remote and checks its proof of work.
//
//go:noinline
func (a *AuthConn) acceptConnectionMessage(cfg *Config, recv []byte) error {
	remote, err := wire.DecodeConnectionMessage(recv[2:])
	if err != nil {
		return err
	}
	pk := crypto.PublicKey(remote.PublicKey)
	stamp := crypto.Nonce(remote.ProofOfWorkStamp)
	a.remote = Remote{
		PeerID:    crypto.PeerIDHash(&pk),
		PublicKey: pk,
		Port:      remote.Port,
		Version:   remote.Version,
	}
	if !crypto.CheckPow(&pk, &stamp, &cfg.PowTarget) {
		return ErrNotEnoughProofOfWork
	}
	if cfg.FirstMessageReceived != nil {
		cfg.FirstMessageReceived()
	}
	return nil
}

// deriveKey computes the channel key with the peer's public key (from
// the cache if there is one). Called by exchangeConnectionMessages, not
// by acceptConnectionMessage, for the same reason: the scalar
// multiplication runs deep.
//
//go:noinline
func (a *AuthConn) deriveKey(cfg *Config) error {
	var err error
	if cfg.KeyCache != nil {
		a.c.key, err = cfg.KeyCache.Get(&a.remote.PublicKey)
	} else {
		a.c.key, err = crypto.Precompute(&a.remote.PublicKey, &cfg.SecretKey)
	}
	return err
}

// firstMessageDeadline sets a read deadline d from now, when d is set and
// comes before the handshake's own; the function it returns puts the
// handshake's deadline back and turns a timeout of the first one into
// ErrFirstMessageTimeout.
func (a *AuthConn) firstMessageDeadline(d time.Duration) func(error) error {
	if d <= 0 {
		return func(err error) error { return err }
	}
	first := time.Now().Add(d)
	end := a.deadline
	if !end.IsZero() && !first.Before(end) {
		return func(err error) error { return err }
	}
	a.c.nc.SetReadDeadline(first)
	return func(err error) error {
		a.c.nc.SetReadDeadline(end) // zero when unbounded: none
		if a.ctx.Err() != nil {
			// The context watcher may have run before the line above
			// and its past deadline been overwritten: it must have the
			// last word.
			a.c.nc.SetDeadline(aLongTimeAgo)
			return err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w after %v", ErrFirstMessageTimeout, d)
		}
		return err
	}
}

func (a *AuthConn) exchangeMetadata(cfg *Config, ack bool) error {
	meta := cfg.Metadata
	if cfg.LocalMetadata != nil {
		meta = cfg.LocalMetadata(a.remote.PeerID)
		if len(meta) > MaxChunkPayload {
			return fmt.Errorf("%w: %d bytes, one chunk holds %d", ErrLocalMetadataTooLarge, len(meta), MaxChunkPayload)
		}
	}
	out := a.c.sealHandshakeChunk(a.sealBuf[:0], meta)
	if ack {
		out = a.sealAck(out)
		a.acked = true
	}
	if err := a.exchange(StageMetadata, out, func() error {
		pt, err := a.c.readHandshakeChunk()
		a.remote.Metadata = append(a.metaBuf[:0:len(a.metaBuf)], pt...)
		return err
	}); err != nil {
		return err
	}
	// Same peer id means same public key (the id is its hash), and
	// comparing keys spares hashing our own on every handshake.
	if a.remote.PublicKey == cfg.PublicKey {
		return ErrMyself
	}
	return nil
}

// sealAck appends our sealed ack to dst.
func (a *AuthConn) sealAck(dst []byte) []byte {
	var ok [1]byte
	return a.c.sealHandshakeChunk(dst, wire.Ack{Kind: wire.AckOK}.Append(ok[:0]))
}

// sealHandshakeChunk seals one handshake payload as a single chunk, whatever
// the configured chunk size (octez Crypto.write_chunk), appending it to dst
// (the handshake's own buffer, or nil): the result may be handed to the
// writing goroutine of exchange, so it must not be the connection's
// reusable output buffer.
func (c *Conn) sealHandshakeChunk(dst, pt []byte) []byte {
	out := binary.BigEndian.AppendUint16(dst, uint16(tagLen+len(pt)))
	out = crypto.Seal(out, pt, &c.wnonce, &c.key)
	c.wnonce.Increment()
	return out
}

// syncWriteMax bounds the handshake writes exchange makes on the calling
// goroutine: three of them (connection message, metadata, ack) stay below
// the 4 KiB that a Linux TCP socket's send buffer holds at the least.
const syncWriteMax = 1024

// kernelBuffered reports whether nc, or the connection it wraps (through
// NetConn, as internal/sched.Conn does), is a kernel socket, whose writes
// are buffered.
func kernelBuffered(nc net.Conn) bool {
	for range 8 { // wrappers are few; a cycle must not hang us
		switch c := nc.(type) {
		case *net.TCPConn, *net.UnixConn:
			return true
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return false
		}
	}
	return false
}
