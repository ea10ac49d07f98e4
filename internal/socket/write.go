package socket

import (
	"encoding/binary"
	"fmt"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

// WriteMessages seals msgs, each one or more whole P2P messages back to
// back with their size prefixes (each checked against the bound before
// anything is written), and writes them: with a single Write call when
// they seal to at most writePiece bytes, else in Writes of about
// writePiece bytes each, each sealed just before it is written. Errors
// are sticky.
//
// By default the messages are sealed as one plaintext stream cut into
// chunks of the configured size: a chunk may end one message and start
// the next, as octez's stream reader allows, and the last chunk holds what
// is left, so nothing waits for bytes that have not been queued. With
// Config.ChunkPerMessage every message starts a new chunk instead.
func (c *Conn) WriteMessages(msgs ...[]byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	plain, size := 0, 0
	for _, b := range msgs {
		plain += len(b)
		for rest := b; len(rest) > 0; {
			n, err := c.nextMessage(rest)
			if err != nil {
				return err
			}
			if c.perMessage {
				size += SealedSize(n, c.chunkPayload)
			}
			rest = rest[n:]
		}
	}
	return c.writeSealed(msgs, plain, size)
}

// WriteStream seals b as plaintext stream bytes, whatever they hold (a
// piece of a message, say), and writes them, as WriteMessages does
// without Config.ChunkPerMessage but without parsing or bounding: for
// tests and tools that script a peer.
func (c *Conn) WriteStream(b []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	perMessage := c.perMessage
	c.perMessage = false
	defer func() { c.perMessage = perMessage }()
	return c.writeSealed([][]byte{b}, len(b), 0)
}

// writeSealed seals and writes msgs, plain bytes in all; size is their
// sealed size with one message per chunk.
func (c *Conn) writeSealed(msgs [][]byte, plain, size int) error {
	payload := c.chunkPayload
	if !c.perMessage {
		if plain == 0 {
			return nil
		}
		if p, ok := c.nc.(pacedConn); ok {
			if q := p.WriteQuantum(); q > 0 {
				// Paced: a chunk is opened only once it has all arrived,
				// so one bigger than a quantum would hold the messages in
				// it back for more than the scheduler does.
				payload = min(payload, max(q-chunkOverhead, 1))
			}
		}
		size = streamSealedSize(msgs, payload)
	}
	// The sealed bytes go out in pieces of about writePiece: no more than
	// one piece (and the chunk that crosses its end) is held sealed, and
	// each is written while it is still in the cache.
	c.reserveOutput(min(size, writePiece+MaxChunkSize))
	out := c.out[:0]
	var err error
	if c.perMessage {
		for _, b := range msgs {
			for rest := b; len(rest) > 0 && err == nil; {
				n, _ := c.nextMessage(rest)
				out, err = c.sealMessage(out, rest[:n], true)
				rest = rest[n:]
			}
		}
	} else {
		out, err = c.sealStream(out, msgs, plain, payload, true)
	}
	c.out = out
	if err == nil {
		err = c.write(out)
	}
	if cap(c.out) > maxRetainedBuffer {
		putBuf(c.out)
		c.out = nil
	}
	if err != nil {
		c.writeErr = err
	}
	return err
}

// nextMessage returns the length of the whole message b starts with, size
// prefix included, checked against the bound.
func (c *Conn) nextMessage(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("%w: %d bytes, not a whole message", ErrInvalidMessageSize, len(b))
	}
	n := 4 + int(binary.BigEndian.Uint32(b))
	if n > c.maxMsg || n > len(b) {
		return 0, fmt.Errorf("%w: writing %d bytes, limit %d, %d given", ErrInvalidMessageSize, n, c.maxMsg, len(b))
	}
	return n, nil
}

// pacedConn is a net.Conn whose writes are paced in quanta
// (internal/sched.Conn); WriteQuantum is 0 while they are not.
type pacedConn interface{ WriteQuantum() int }

// write writes b. A bound on how long the peer may keep us from
// writing belongs to the transport (internal/sched's stall timeout),
// which can tell waiting for the peer from waiting for bandwidth.
func (c *Conn) write(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

// writePiece is how many sealed bytes the writer gathers before it
// writes them: past it, a batch is written as it is sealed, piece by
// piece, so that a writer holds about one piece of sealed bytes, not its
// whole batch (up to 256 KiB from the pool's writer, 50 eager writers
// 12.5 MiB), and the bytes it writes were sealed moments before. A
// piece is one full chunk: the reader's buffer takes about as much per
// read.
const writePiece = MaxChunkSize

// flushPiece, with write, writes out and empties it once it holds
// writePiece bytes or more.
func (c *Conn) flushPiece(out []byte, write bool) ([]byte, error) {
	if !write || len(out) < writePiece {
		return out, nil
	}
	if err := c.write(out); err != nil {
		return out, err
	}
	return out[:0], nil
}

// ReleaseWriteBuffers gives the writer's buffers back to the buffer pool;
// the next WriteMessages takes new ones. The writing goroutine calls it
// when it has nothing left to write, so that an idle connection holds no
// output buffer.
func (c *Conn) ReleaseWriteBuffers() {
	putBuf(c.out)
	putBuf(c.stage)
	c.out, c.stage = nil, nil
}

func (c *Conn) reserveOutput(n int) {
	if cap(c.out) >= n {
		return
	}
	putBuf(c.out)
	c.out = pool.Get(n)[:0]
}

// ownChunkMin is the size from which a buffer handed to WriteMessages
// gets chunks of its own (ownChunks): a chunk never spans its start or
// its end, so each of its chunks is sealed straight from it, and the
// reader returns a message in it in place (the rest first, then full
// chunks: see readRest). Smaller buffers are gathered into shared, full
// chunks through c.stage.
//
// Gathering costs a copy of every byte into the stage. An own chunk
// costs its 18 bytes and one more chunk to seal and open (a subkey, a
// first keystream pass and a tag), and the reader stops staging messages
// at each chunk's end (NextWhole), so it queues them in smaller batches;
// but a large message cut over shared chunks costs the reader a copy of
// its first part to complete it, which own chunks spare. So the pool's
// queue sizes its arenas of small messages for this rule: those that
// follow a full one, as a run builds up behind the writer, hold one full
// chunk (64 KiB buffers filled to MaxChunkPayload) and go out uncopied;
// the small one a run starts with (4 KiB) is gathered. Arenas of 16 KiB
// went out 7-12% faster gathered into full chunks than in chunks of
// their own, and full-chunk arenas in their own chunks 7% faster again,
// with 9% less CPU (P2ppool/Throughput at 1 KiB, alternated runs;
// BENCHMARKS.md, issue 20's tenth and eleventh rounds). A single message
// of 24 KiB went 10% slower gathered (12 KiB: 3%, within the noise).
const ownChunkMin = 8 << 10

// ownChunks reports whether b, a buffer handed to WriteMessages, gets
// chunks of its own: it holds at least ownChunkMin bytes.
func ownChunks(b []byte) bool { return len(b) >= ownChunkMin }

// nextChunk returns the plaintext size of the stream's next chunk, which
// starts at msgs[i][off] (off < len(msgs[i])), cut at payload bytes: at
// most payload, and neither crossing the start nor the end of a buffer
// that has chunks of its own (ownChunks), whose chunks are full but the
// first. direct reports that the chunk lies in msgs[i] and is sealed from
// it directly.
func nextChunk(msgs [][]byte, i, off, payload int) (n int, direct bool) {
	if ownChunks(msgs[i]) {
		// What is left over from full chunks goes first, and the buffer
		// ends on a full chunk: a message of one chunk and a little
		// arrives as a small chunk holding its size, then one chunk
		// that the reader decrypts after it and returns in place
		// (readRest), copying the small one only.
		if r := len(msgs[i]) % payload; off == 0 && r != 0 {
			return r, true
		}
		return min(len(msgs[i])-off, payload), true
	}
	if rest := len(msgs[i]) - off; rest >= payload {
		return payload, true
	}
	for n = len(msgs[i]) - off; n < payload; {
		i++
		if i == len(msgs) || ownChunks(msgs[i]) {
			break
		}
		n += len(msgs[i])
	}
	return min(n, payload), false
}

// streamSealedSize is the sealed size of msgs taken as one stream and cut
// as sealStream cuts it.
func streamSealedSize(msgs [][]byte, payload int) int {
	size := 0
	i, off := 0, 0
	for {
		for i < len(msgs) && off == len(msgs[i]) {
			i, off = i+1, 0
		}
		if i == len(msgs) {
			return size
		}
		n, _ := nextChunk(msgs, i, off, payload)
		size += chunkOverhead + n
		for n > 0 {
			k := min(n, len(msgs[i])-off)
			n -= k
			if off += k; off == len(msgs[i]) && n > 0 {
				i, off = i+1, 0
			}
		}
	}
}

// sealStream appends the plain bytes of msgs, taken as one stream, cut
// into chunks of at most payload plaintext bytes (at most c.chunkPayload;
// see nextChunk for where else a chunk ends), and, if write is set,
// writes the sealed bytes piece by piece (flushPiece). A chunk that lies
// in one buffer is sealed from it directly; one that spans buffers is
// gathered into c.stage first, as sealing needs its plaintext in one
// piece.
func (c *Conn) sealStream(out []byte, msgs [][]byte, plain, payload int, write bool) ([]byte, error) {
	i, off := 0, 0 // the next plaintext byte is msgs[i][off]
	for left := plain; left > 0; {
		var err error
		if out, err = c.flushPiece(out, write); err != nil {
			return out, err
		}
		for off == len(msgs[i]) {
			i, off = i+1, 0
		}
		n, direct := nextChunk(msgs, i, off, payload)
		left -= n
		var piece []byte
		if direct {
			piece = msgs[i][off : off+n]
			off += n
		} else {
			if c.stage == nil {
				c.stage = pool.Get(c.chunkPayload)
			}
			piece = c.stage[:0]
			for len(piece) < n {
				for off == len(msgs[i]) {
					i, off = i+1, 0
				}
				k := min(n-len(piece), len(msgs[i])-off)
				piece = append(piece, msgs[i][off:off+k]...)
				off += k
			}
		}
		out = binary.BigEndian.AppendUint16(out, uint16(tagLen+n))
		out = crypto.Seal(out, piece, &c.wnonce, &c.key)
		c.wnonce.Increment()
	}
	return out, nil
}

// sealMessage appends m cut into chunks of c.chunkPayload plaintext bytes,
// m starting a new chunk, and, if write is set, writes the sealed bytes
// piece by piece (flushPiece). An empty m still yields one (empty) chunk,
// as a handshake ack never does but keeps the framing total.
func (c *Conn) sealMessage(out, m []byte, write bool) ([]byte, error) {
	for {
		var err error
		if out, err = c.flushPiece(out, write); err != nil {
			return out, err
		}
		piece := m[:min(len(m), c.chunkPayload)]
		m = m[len(piece):]
		out = binary.BigEndian.AppendUint16(out, uint16(tagLen+len(piece)))
		out = crypto.Seal(out, piece, &c.wnonce, &c.key)
		c.wnonce.Increment()
		if len(m) == 0 {
			return out, nil
		}
	}
}

// SealedSize is the on-wire size of an n-byte plaintext cut into chunks of
// at most payload bytes.
func SealedSize(n, payload int) int {
	chunks := max(1, (n+payload-1)/payload)
	return n + chunks*chunkOverhead
}
