package socket

// retained is the pooled buffer capacity the connection holds, reader and
// writer together (the inline arrays of an idle Conn not counted).
func (c *Conn) retained() (reader, writer int) {
	if c.inPooled {
		reader += cap(c.in)
	}
	if c.ptPooled {
		reader += cap(c.pt)
	}
	reader += cap(c.msg)
	for _, b := range c.blocks {
		reader += cap(b)
	}
	return reader, cap(c.out) + cap(c.stage)
}

// The sealing of the writer without its writes, for tests and benchmarks
// that look at the bytes.

// appendStream appends the plain bytes of msgs, taken as one stream, cut
// into chunks of payload plaintext bytes (at most c.chunkPayload). A chunk that lies in one
// message is sealed from it directly; one that spans messages is gathered
// into c.stage first, as sealing needs its plaintext in one piece.
func (c *Conn) appendStream(out []byte, msgs [][]byte, plain, payload int) []byte {
	out, _ = c.sealStream(out, msgs, plain, payload, false)
	return out
}

// appendSealed appends m cut into chunks of c.chunkPayload plaintext bytes,
// m starting a new chunk. An empty m still yields one (empty) chunk, as a
// handshake ack never does but keeps the framing total.
func (c *Conn) appendSealed(out, m []byte) []byte {
	out, _ = c.sealMessage(out, m, false)
	return out
}
