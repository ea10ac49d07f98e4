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
