package socket

import (
	"net"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

// idleReadSize is the small raw buffer a reader waits on in a read while
// it holds no pooled buffer: an idle connection costs these bytes and
// nothing else, and a small chunk (header, MAC and a short message) still
// arrives in one read. A reader that parks instead (Park) has none.
const idleReadSize = 512

// readAhead is the smallest pooled raw buffer, taken once a chunk does not
// fit in the idle one: octez read_buffer_size, so that many small chunks
// cost one read.
const readAhead = 16 << 10

// flowReadSize is the raw buffer a reader takes instead once a read
// filled all the room it had (bytes were left in the socket): with chunks
// of 16 KiB (an arena of small messages each, as the pool's writer once
// sent them) a buffer of readAhead cost one read per chunk, four times
// as many reads as full chunks did.
//
// A read that fills a room of at least half its buffer (surging) doubles
// the next buffer, up to flowReadMax: a peer that keeps the socket full
// then costs a quarter of the reads (each read of a TCP socket also sends
// the acknowledgement that lets the peer send more, which on loopback
// runs the peer's transmission inside the read; BENCHMARKS.md, issue 20's
// ninth round, has what that saved). What a peer can make a reader hold stays
// proportionate to what it sent: past flowReadSize, a buffer is at most
// four times the read that earned it.
const (
	flowReadSize = 64 << 10
	flowReadMax  = 256 << 10
)

// blockSize is the unit in which a message spanning chunks is reassembled:
// a block is taken only once bytes for it have arrived, so a peer that
// announces a large message and stalls costs what it sent plus the chunk
// being received plus less than one block. A power of two, so that the
// buffer pool hands out exactly this much.
const blockSize = 16 << 10

// maxRetainedBuffer: an output buffer larger than this is given back to the
// buffer pool once written, so one big batch does not pin its memory for
// the life of the connection.
const maxRetainedBuffer = 1 << 20

// Conn is an authenticated, encrypted connection carrying whole P2P
// messages. One goroutine may call ReadMessage while another calls
// WriteMessages; each of the two must not be called concurrently with
// itself. Close may be called from any goroutine at any time.
//
// An idle Conn holds no pooled buffer: the reader waits on a small
// buffer of its own (or parks, holding none) and takes buffers once a
// chunk arrives, and the writer gives its
// buffers back through ReleaseWriteBuffers.
type Conn struct {
	// Immutable after the handshake.
	nc           net.Conn
	key          crypto.ChannelKey
	chunkPayload int
	maxMsg       int
	// perMessage: every message starts a new chunk (Config.ChunkPerMessage).
	perMessage bool

	// Owned by the reader (ReadMessage).
	rnonce crypto.Nonce
	// in[inStart:inEnd] are raw bytes not yet used. in is nil, idle[:]
	// or a pooled buffer (inPooled).
	in       []byte
	inStart  int
	inEnd    int
	inPooled bool
	// flowing: the last read filled all the room it had; surging: that
	// room was at least half of in (see flowReadSize).
	flowing, surging bool
	// idle is what the reader waits on in a read, made at the first
	// read; parks is set by the first Park, which drops idle: a reader
	// that parks reads into pooled buffers only, given back as it parks.
	idle  *[idleReadSize]byte
	parks bool
	// pt[ptStart:] is decrypted plaintext not yet returned. pt is nil,
	// a pooled buffer (ptPooled), or a chunk opened where it lies in in
	// (ptInIn; see detachPlaintext). It has no inline buffer: chunks are
	// opened in place, and a connection end holds 512 bytes fewer (37 MB
	// at 10,000 swarm nodes).
	pt       []byte
	ptStart  int
	ptPooled bool
	ptInIn   bool
	// consumed is the length of the message last returned from pt,
	// dropped on the next call.
	consumed int
	// msg is the pooled buffer of the message last returned when it was
	// reassembled from several chunks; blocks holds such a message's
	// bytes while it arrives.
	msg     []byte
	blocks  [][]byte
	readErr error // sticky
	// reserve, when set, is told each message's size and tag as soon as
	// they are read, before the rest is reassembled.
	reserve Reserver

	// Owned by the writer (WriteMessages).
	wnonce   crypto.Nonce
	out      []byte // sealed bytes of the current batch, pooled
	stage    []byte // one chunk's plaintext gathered from several messages, pooled
	writeErr error  // sticky
}

func newConn(nc net.Conn, cfg *Config) *Conn {
	c := &Conn{
		nc:           nc,
		chunkPayload: cfg.chunkPayload(),
		maxMsg:       cfg.maxMessageSize(),
		perMessage:   cfg.ChunkPerMessage,
	}
	return c
}

// Reserver makes room for a message being read (SetReserve). An
// interface rather than a func, so that the pool passes its connection
// without allocating a closure per connection.
type Reserver interface {
	Reserve(size int, tag uint16) error
}

// SetReserve makes ReadMessage call r.Reserve with the whole size
// (prefix included) and the tag of each message that has not arrived
// whole, as soon as both are known and before reading the rest: Reserve
// may wait for room, which stops the reader, or fail, which fails the
// read. The tag lets the caller count what the message will hold once
// decoded. A message that had arrived whole with earlier chunks is
// returned without a call: its bytes are held already, and the caller
// accounts for it when it keeps it. Call it before the first ReadMessage.
func (c *Conn) SetReserve(r Reserver) { c.reserve = r }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection, which unblocks a pending read or
// write with an error.
func (c *Conn) Close() error { return c.nc.Close() }

// Free gives the connection's buffers back to the buffer pool. Call it only
// once no ReadMessage or WriteMessages call is running or will run.
func (c *Conn) Free() {
	c.releaseIn()
	c.inStart, c.inEnd = 0, 0
	c.releasePlaintext()
	c.releaseMessage()
	for i, b := range c.blocks {
		putBuf(b)
		c.blocks[i] = nil
	}
	c.blocks = nil
	c.ReleaseWriteBuffers()
	if c.readErr == nil {
		c.readErr = net.ErrClosed
	}
	if c.writeErr == nil {
		c.writeErr = net.ErrClosed
	}
}

// putBuf gives b's whole capacity back to the buffer pool.
func putBuf(b []byte) {
	if cap(b) > 0 {
		pool.Put(b[:cap(b)])
	}
}
