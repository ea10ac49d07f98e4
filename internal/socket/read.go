package socket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// ReadMessage returns the next whole P2P message, 4-byte size prefix
// included, decrypted from as many chunks as it spans (messages may span
// or share chunks, as octez's stream decoder allows). The slice aliases an
// internal buffer and is valid until the next ReadMessage call. Errors are
// sticky: after one, every call returns it.
//
// Memory follows arrival: a buffer is taken when a chunk's header
// arrives (at most one chunk's worth), and a message spanning chunks is
// gathered in blocks taken as its bytes arrive, so what a stalled peer
// costs is what it sent plus one chunk.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	c.ptStart += c.consumed
	c.consumed = 0
	c.releaseMessage()
	for len(c.pt)-c.ptStart < 4 {
		if err := c.readChunk(); err != nil {
			return nil, c.failRead(err)
		}
	}
	total, err := wire.MessageLen(c.pt[c.ptStart:c.ptStart+4], c.maxMsg)
	if err != nil {
		return nil, c.failRead(fmt.Errorf("%w: %w", ErrInvalidMessageSize, err))
	}
	if len(c.pt)-c.ptStart >= total {
		// The common case: the message lies in the chunks read so far, and
		// is returned in place. Its bytes are already held: the caller
		// accounts for them when it queues the message (see SetReserve).
		c.consumed = total
		return c.pt[c.ptStart : c.ptStart+total], nil
	}
	if c.reserve != nil {
		// The tag too: it says what kind of message this is, and so what
		// its decoded form may hold. Every message has one (MessageLen
		// refuses a size under 2).
		for len(c.pt)-c.ptStart < 6 { // size prefix and message tag
			if err := c.readChunk(); err != nil {
				return nil, c.failRead(err)
			}
		}
		if err := c.reserve.Reserve(total, binary.BigEndian.Uint16(c.pt[c.ptStart+4:])); err != nil {
			return nil, c.failRead(err)
		}
	}
	// A message whose rest is all in the next chunk (the last chunk of a
	// message that starts near the end of one, as the writer cuts a
	// large message, or as octez cuts one, in full chunks then the rest)
	// is completed in pt: the chunk is decrypted after the bytes already
	// there, and the message returned in place. Assembling it instead
	// copied it twice, into blocks and then into one buffer.
	if whole, err := c.readRest(total); err != nil {
		return nil, c.failRead(err)
	} else if whole {
		c.consumed = total
		return c.pt[c.ptStart : c.ptStart+total], nil
	}
	m, err := c.assemble(total)
	if err != nil {
		return nil, c.failRead(err)
	}
	return m, nil
}

// readRest reads the next chunk's header and, if the chunk holds the rest
// of the total-byte message that starts at pt[ptStart:], the chunk,
// appended to pt, reporting whether it did. Else the chunk is left for
// assemble. What it holds at a stall is what assemble would: the bytes
// that arrived, and the chunk being received.
func (c *Conn) readRest(total int) (bool, error) {
	if err := c.fill(headerLen); err != nil {
		return false, err
	}
	n := int(binary.BigEndian.Uint16(c.in[c.inStart:]))
	if n < tagLen || len(c.pt)-c.ptStart+n-tagLen < total {
		return false, nil // readChunk refuses the first, assemble takes the second
	}
	return true, c.readChunk()
}

// Buffered reports whether decrypted bytes after the message last
// returned wait in the connection, so that the next ReadMessage starts
// without reading the network. Only the reader may call it.
func (c *Conn) Buffered() bool { return len(c.pt)-(c.ptStart+c.consumed) > 0 }

// Park prepares the reader to wait for the network somewhere other than
// in ReadMessage (p2ppooltest's NotifyReadable, say). When nothing
// received waits in the connection, decrypted or not, it gives back the
// read buffers, as a ReadMessage that waits on the network does, and
// reports true: the next ReadMessage starts with a read of the network,
// so it may be called once the network has something. From the first
// Park on, the reader has no buffer of its own to wait on in a read
// either: it reads into pooled buffers only. Only the reader may call
// it.
func (c *Conn) Park() bool {
	if c.readErr != nil || c.Buffered() || c.inStart != c.inEnd {
		return false
	}
	c.ptStart += c.consumed
	c.consumed = 0
	c.releaseMessage()
	c.releasePlaintext()
	c.parks, c.idle = true, nil
	c.releaseIn()
	c.inStart, c.inEnd = 0, 0
	return true
}

// NextWhole reports whether the next message has arrived whole, so that
// the next ReadMessage returns it without reading the network or calling
// the Reserver. Only the reader may call it.
func (c *Conn) NextWhole() bool {
	start := c.ptStart + c.consumed
	if len(c.pt)-start < 4 {
		return false
	}
	total, err := wire.MessageLen(c.pt[start:start+4], c.maxMsg)
	return err == nil && len(c.pt)-start >= total
}

func (c *Conn) failRead(err error) error {
	c.readErr = err
	return err
}

// assemble gathers the total-byte message that starts at pt[ptStart:],
// reading chunks until it is whole. Its bytes go into blocks of blockSize
// (the last one shorter), each taken when its first byte has arrived; a
// message of one block is returned as it is, a longer one is copied into
// one buffer once whole.
func (c *Conn) assemble(total int) ([]byte, error) {
	have := 0
	for {
		for live := c.pt[c.ptStart:]; len(live) > 0 && have < total; {
			i, off := have/blockSize, have%blockSize
			if i == len(c.blocks) {
				c.blocks = append(c.blocks, pool.Get(min(blockSize, total-have)))
			}
			n := copy(c.blocks[i][off:], live)
			have += n
			live = live[n:]
			c.ptStart += n
		}
		if have == total {
			break
		}
		if err := c.readChunk(); err != nil {
			return nil, err
		}
	}
	if len(c.blocks) == 1 {
		c.msg = c.blocks[0]
	} else {
		c.msg = pool.Get(total)
		off := 0
		for _, b := range c.blocks {
			off += copy(c.msg[off:], b)
			putBuf(b)
		}
	}
	clear(c.blocks)
	c.blocks = c.blocks[:0]
	return c.msg, nil
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
	c.inStart += headerLen
	if err := c.fill(n); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the header arrived
		}
		return err
	}
	sealed := c.in[c.inStart : c.inStart+n]
	if c.ptStart == len(c.pt) {
		// Nothing decrypted is left over: the chunk is opened where it
		// lies and its messages are read from there. Opening into a
		// buffer of its own wrote every byte to a second buffer, and
		// opening cost a third more than sealing the same bytes.
		c.releasePlaintext()
		pt, ok := crypto.Open(sealed[tagLen:tagLen], sealed, &c.rnonce, &c.key)
		if !ok {
			return ErrDecipher
		}
		c.pt, c.ptInIn = pt, true
	} else if c.ptInIn && cap(c.pt)-len(c.pt) == cap(c.in)-(c.inStart-headerLen) {
		// A message runs on into this chunk from the end of the one
		// before, opened in place just ahead of it in in: this one is
		// opened in place too, and the message's start moved up over
		// the chunk's header and tag, which joins the two.
		start := len(c.pt) - c.ptStart
		pt, ok := crypto.Open(sealed[tagLen:tagLen], sealed, &c.rnonce, &c.key)
		if !ok {
			return ErrDecipher
		}
		end := c.inStart + n // of pt in in
		from := end - len(pt) - start
		copy(c.in[from:], c.pt[c.ptStart:])
		c.pt, c.ptStart = c.in[from:end], 0
	} else {
		// A message runs on from the bytes left over into this chunk:
		// its plaintext goes after them.
		c.detachPlaintext(n - tagLen)
		c.reservePlaintext(n - tagLen)
		var ok bool
		c.pt, ok = crypto.Open(c.pt, sealed, &c.rnonce, &c.key)
		if !ok {
			return ErrDecipher
		}
	}
	c.rnonce.Increment()
	c.inStart += n
	return nil
}

func (c *Conn) releaseIn() {
	if c.inPooled {
		putBuf(c.in)
		c.inPooled = false
	}
	c.in = nil
	if c.idle != nil {
		c.in = c.idle[:]
	}
}

func (c *Conn) releasePlaintext() {
	if c.ptPooled {
		putBuf(c.pt)
		c.ptPooled = false
	}
	c.pt = nil
	c.ptStart = 0
	c.ptInIn = false
}

// detachPlaintext moves the plaintext not yet returned out of in, where
// its chunk was opened, into a buffer of its own with room for extra more
// bytes: before in's bytes are moved or given back (fill), or before a
// chunk's plaintext is appended to it (in holds the next chunk there).
func (c *Conn) detachPlaintext(extra int) {
	if !c.ptInIn {
		return
	}
	live := c.pt[c.ptStart:]
	c.ptInIn = false
	buf := pool.Get(len(live) + extra)[:len(live)]
	c.ptPooled = true
	copy(buf, live)
	c.pt, c.ptStart = buf, 0
}

func (c *Conn) releaseMessage() {
	putBuf(c.msg)
	c.msg = nil
}

// reservePlaintext makes room for n more plaintext bytes: returned bytes
// are dropped first, and a bigger buffer is exactly what is needed (the
// reader only appends a chunk to pt when fewer than 6 live bytes are left
// there, or when the chunk ends the message that starts there (readRest),
// so pt never exceeds that message's start and one chunk).
func (c *Conn) reservePlaintext(n int) {
	if cap(c.pt)-len(c.pt) >= n {
		return
	}
	live := len(c.pt) - c.ptStart
	if cap(c.pt)-live >= n {
		copy(c.pt[:live], c.pt[c.ptStart:])
		c.pt = c.pt[:live]
		c.ptStart = 0
		return
	}
	grown := pool.Get(live + n)[:live]
	copy(grown, c.pt[c.ptStart:])
	c.releasePlaintext()
	c.pt, c.ptPooled = grown, true
}

// fill makes c.in[c.inStart:c.inEnd] hold at least n bytes (n is at most
// one chunk), reading as much as the buffer takes per syscall so that many
// small chunks cost one read.
func (c *Conn) fill(n int) error {
	if c.inEnd-c.inStart >= n {
		return nil
	}
	// The read below may block: wait holding only what is still needed.
	// Before in's bytes move or go back to the pool, what is left of the
	// plaintext opened in it moves out (detachPlaintext).
	if c.ptStart == len(c.pt) {
		c.releasePlaintext()
	}
	if c.inStart == c.inEnd && n <= idleReadSize && !c.parks {
		c.detachPlaintext(0)
		c.releaseIn()
		if c.idle == nil {
			c.idle = new([idleReadSize]byte)
			c.in = c.idle[:]
		}
		c.inStart, c.inEnd = 0, 0
	}
	if len(c.in)-c.inStart < n {
		c.detachPlaintext(0)
		live := c.inEnd - c.inStart
		if len(c.in) < n || c.flowing && len(c.in) < flowReadMax {
			size := max(n, readAhead)
			if c.flowing {
				size = max(size, flowReadSize)
			}
			if c.surging {
				size = max(size, min(2*len(c.in), flowReadMax))
			}
			grown := pool.Get(size)
			grown = grown[:cap(grown)]
			copy(grown, c.in[c.inStart:c.inEnd])
			c.releaseIn()
			c.in, c.inPooled = grown, true
		} else {
			copy(c.in, c.in[c.inStart:c.inEnd])
		}
		c.inStart, c.inEnd = 0, live
	}
	for c.inEnd-c.inStart < n {
		room := len(c.in) - c.inEnd
		m, err := c.nc.Read(c.in[c.inEnd:])
		// A read that filled all the room it had left bytes behind in
		// the socket: the next buffer is a large one.
		c.flowing = m == room
		c.surging = c.flowing && 2*room >= len(c.in)
		c.inEnd += m
		if err != nil {
			if c.inEnd-c.inStart >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && c.inEnd > c.inStart {
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
	c.releasePlaintext()
	if err := c.readChunk(); err != nil {
		return nil, err
	}
	pt := c.pt
	c.pt = c.pt[:0]
	return pt, nil
}
