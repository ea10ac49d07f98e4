package socket

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// initialReadBuffer is the raw receive buffer a connection starts with
// (octez read_buffer_size). It grows to hold the largest chunk the peer
// sends, at most twice MaxChunkSize.
const initialReadBuffer = 16 << 10

// maxRetainedBuffer: a plaintext or output buffer larger than this is given
// back to the buffer pool once drained, so one big message does not pin its
// memory for the life of the connection.
const maxRetainedBuffer = 1 << 20

// Conn is an authenticated, encrypted connection carrying whole P2P
// messages. One goroutine may call ReadMessage while another calls
// WriteMessages; each of the two must not be called concurrently with
// itself. Close may be called from any goroutine at any time.
type Conn struct {
	// Immutable after the handshake.
	nc           net.Conn
	key          crypto.ChannelKey
	chunkPayload int
	maxMsg       int

	// Owned by the reader (ReadMessage).
	rnonce   crypto.Nonce
	in       []byte // raw bytes from nc; in[inStart:inEnd] not yet used
	inStart  int
	inEnd    int
	pt       []byte // decrypted stream; pt[ptStart:] not yet returned
	ptStart  int
	consumed int   // length of the message last returned, dropped on the next call
	readErr  error // sticky
	// reserve, when set, is called with each message's size as soon as
	// its size prefix is read, before the rest is reassembled.
	reserve func(size int) error

	// Owned by the writer (WriteMessages).
	wnonce   crypto.Nonce
	out      []byte
	writeErr error // sticky
}

func newConn(nc net.Conn, cfg *Config) *Conn {
	return &Conn{
		nc:           nc,
		chunkPayload: cfg.chunkPayload(),
		maxMsg:       cfg.maxMessageSize(),
		in:           pool.Get(initialReadBuffer),
	}
}

// SetReserve makes ReadMessage call reserve with each message's whole
// size (prefix included) as soon as it is known and before reading the
// rest: reserve may wait for room, which stops the reader, or fail, which
// fails the read. Call it before the first ReadMessage.
func (c *Conn) SetReserve(reserve func(size int) error) { c.reserve = reserve }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection, which unblocks a pending read or
// write with an error.
func (c *Conn) Close() error { return c.nc.Close() }

// Free gives the connection's buffers back to the buffer pool. Call it only
// once no ReadMessage or WriteMessages call is running or will run.
func (c *Conn) Free() {
	for _, b := range [...][]byte{c.in, c.pt, c.out} {
		if cap(b) > 0 {
			pool.Put(b[:cap(b)])
		}
	}
	c.in, c.pt, c.out = nil, nil, nil
	if c.readErr == nil {
		c.readErr = net.ErrClosed
	}
	if c.writeErr == nil {
		c.writeErr = net.ErrClosed
	}
}

// ReadMessage returns the next whole P2P message, 4-byte size prefix
// included, decrypted from as many chunks as it spans (messages may span
// or share chunks, as octez's stream decoder allows). The slice aliases an
// internal buffer and is valid until the next ReadMessage call. Errors are
// sticky: after one, every call returns it.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	c.ptStart += c.consumed
	c.consumed = 0
	if c.ptStart == len(c.pt) {
		c.resetPlaintext()
	}
	for len(c.pt)-c.ptStart < 4 {
		if err := c.readChunk(); err != nil {
			return nil, c.failRead(err)
		}
	}
	total, err := wire.MessageLen(c.pt[c.ptStart:c.ptStart+4], c.maxMsg)
	if err != nil {
		return nil, c.failRead(fmt.Errorf("%w: %w", ErrInvalidMessageSize, err))
	}
	if c.reserve != nil {
		if err := c.reserve(total); err != nil {
			return nil, c.failRead(err)
		}
	}
	for len(c.pt)-c.ptStart < total {
		if err := c.readChunk(); err != nil {
			return nil, c.failRead(err)
		}
	}
	c.consumed = total
	return c.pt[c.ptStart : c.ptStart+total], nil
}

func (c *Conn) failRead(err error) error {
	c.readErr = err
	return err
}

// resetPlaintext empties the plaintext buffer, returning it to the pool if
// a large message grew it.
func (c *Conn) resetPlaintext() {
	if cap(c.pt) > maxRetainedBuffer {
		pool.Put(c.pt[:cap(c.pt)])
		c.pt = nil
	}
	c.pt = c.pt[:0]
	c.ptStart = 0
}

// readChunk reads one chunk and appends its plaintext to c.pt.
func (c *Conn) readChunk() error {
	if err := c.fill(headerLen); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint16(c.in[c.inStart:]))
	if n < tagLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidChunkSize, n)
	}
	if err := c.fill(headerLen + n); err != nil {
		return err
	}
	sealed := c.in[c.inStart+headerLen : c.inStart+headerLen+n]
	c.reservePlaintext(n - tagLen)
	var ok bool
	c.pt, ok = crypto.Open(c.pt, sealed, &c.rnonce, &c.key)
	if !ok {
		return ErrDecipher
	}
	c.rnonce.Increment()
	c.inStart += headerLen + n
	return nil
}

// reservePlaintext makes room for n more plaintext bytes without letting
// append pick a size: the buffer comes from the pool, and consumed bytes are
// dropped before the buffer grows.
func (c *Conn) reservePlaintext(n int) {
	if cap(c.pt)-len(c.pt) >= n {
		return
	}
	live := len(c.pt) - c.ptStart
	if c.ptStart > 0 && cap(c.pt)-live >= n {
		copy(c.pt, c.pt[c.ptStart:])
		c.pt = c.pt[:live]
		c.ptStart = 0
		return
	}
	grown := pool.Get(max(2*cap(c.pt), live+n, initialReadBuffer))[:live]
	copy(grown, c.pt[c.ptStart:])
	if cap(c.pt) > 0 {
		pool.Put(c.pt[:cap(c.pt)])
	}
	c.pt = grown
	c.ptStart = 0
}

// fill makes c.in[c.inStart:c.inEnd] hold at least n bytes, reading as much
// as the buffer takes per syscall so that many small chunks cost one read.
func (c *Conn) fill(n int) error {
	if c.inEnd-c.inStart >= n {
		return nil
	}
	if len(c.in)-c.inStart < n {
		live := c.inEnd - c.inStart
		if len(c.in) < n {
			grown := pool.Get(min(max(2*len(c.in), 2*n), 2*(MaxChunkSize+headerLen)))
			copy(grown, c.in[c.inStart:c.inEnd])
			pool.Put(c.in)
			c.in = grown
		} else {
			copy(c.in, c.in[c.inStart:c.inEnd])
		}
		c.inStart, c.inEnd = 0, live
	}
	for c.inEnd-c.inStart < n {
		m, err := c.nc.Read(c.in[c.inEnd:])
		c.inEnd += m
		if err != nil {
			if c.inEnd-c.inStart >= n {
				return nil
			}
			if err == io.EOF && c.inEnd > c.inStart {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readHandshakeChunk reads exactly one chunk and returns its plaintext,
// valid until the next read. Handshake payloads are one chunk each.
func (c *Conn) readHandshakeChunk() ([]byte, error) {
	c.resetPlaintext()
	if err := c.readChunk(); err != nil {
		return nil, err
	}
	pt := c.pt
	c.pt = c.pt[:0]
	return pt, nil
}

// WriteMessages encrypts each message (a whole P2P message, size prefix
// included) into chunks of the configured size, every message starting a
// new chunk, and writes them all with a single Write call. Errors are
// sticky.
func (c *Conn) WriteMessages(msgs ...[]byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	size := 0
	for _, m := range msgs {
		if len(m) > c.maxMsg {
			return fmt.Errorf("%w: writing %d bytes, limit %d", ErrInvalidMessageSize, len(m), c.maxMsg)
		}
		size += SealedSize(len(m), c.chunkPayload)
	}
	c.reserveOutput(size)
	out := c.out[:0]
	for _, m := range msgs {
		out = c.appendSealed(out, m)
	}
	c.out = out
	_, err := c.nc.Write(out)
	if cap(c.out) > maxRetainedBuffer {
		pool.Put(c.out[:cap(c.out)])
		c.out = nil
	}
	if err != nil {
		c.writeErr = err
	}
	return err
}

func (c *Conn) reserveOutput(n int) {
	if cap(c.out) >= n {
		return
	}
	if cap(c.out) > 0 {
		pool.Put(c.out[:cap(c.out)])
	}
	c.out = pool.Get(n)[:0]
}

// appendSealed appends m cut into chunks of c.chunkPayload plaintext bytes.
// An empty m still yields one (empty) chunk, as a handshake ack never does
// but keeps the framing total.
func (c *Conn) appendSealed(out, m []byte) []byte {
	for {
		piece := m[:min(len(m), c.chunkPayload)]
		m = m[len(piece):]
		out = binary.BigEndian.AppendUint16(out, uint16(tagLen+len(piece)))
		out = crypto.Seal(out, piece, &c.wnonce, &c.key)
		c.wnonce.Increment()
		if len(m) == 0 {
			return out
		}
	}
}

// SealedSize is the on-wire size of an n-byte plaintext cut into chunks of
// at most payload bytes.
func SealedSize(n, payload int) int {
	chunks := max(1, (n+payload-1)/payload)
	return n + chunks*chunkOverhead
}
