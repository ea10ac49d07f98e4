package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
)

// captureConn is a write-only net.Conn that keeps what is written.
type captureConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error)       { return c.buf.Write(p) }
func (c *captureConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *captureConn) Close() error                      { return nil }
func (c *captureConn) Read(p []byte) (n int, err error)  { return 0, io.EOF }
func (c *captureConn) SetDeadline(t time.Time) error     { return nil }
func (c *captureConn) SetReadDeadline(t time.Time) error { return nil }
func (c *captureConn) LocalAddr() net.Addr               { return nil }
func (c *captureConn) RemoteAddr() net.Addr              { return nil }

// scriptConn is a read-only net.Conn serving parts one after the other,
// each as if it arrived after the reader had used up the one before, then
// EOF: stall, when set, runs on the reading goroutine each time the reader
// asks for more than has arrived (after each part), with the count of
// bytes served so far.
type scriptConn struct {
	net.Conn
	parts   [][]byte
	served  int
	maxRead int // when > 0, no Read returns more
	stall   func(arrived int)
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	if len(c.parts[0]) == 0 {
		// The reader used up a part and wants more: it is stalled here.
		c.parts = c.parts[1:]
		if c.stall != nil {
			c.stall(c.served)
		}
		if len(c.parts) == 0 {
			return 0, io.EOF
		}
	}
	if c.maxRead > 0 && len(p) > c.maxRead {
		p = p[:c.maxRead]
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	c.served += n
	return n, nil
}

var streamKey = crypto.ChannelKey{9, 9, 9}

// newWriter returns a Conn writing into a captureConn with cfg's framing.
func newWriter(cfg *Config) (*Conn, *captureConn) {
	cc := &captureConn{}
	w := newConn(cc, cfg)
	w.key = streamKey
	return w, cc
}

// newReader returns a Conn reading sc, keyed as newWriter's.
func newReader(t testing.TB, sc *scriptConn, cfg *Config) *Conn {
	r := newConn(sc, cfg)
	r.key = streamKey
	t.Cleanup(r.Free)
	return r
}

// chunkSizes lists the plaintext size of every chunk in a sealed stream.
func chunkSizes(t *testing.T, raw []byte) []int {
	var sizes []int
	for len(raw) > 0 {
		require.GreaterOrEqual(t, len(raw), headerLen)
		n := int(binary.BigEndian.Uint16(raw))
		sizes = append(sizes, n-tagLen)
		raw = raw[headerLen+n:]
	}
	return sizes
}

func TestWriterFraming(t *testing.T) {
	msgs := [][]byte{appMessage(0x10, []byte("abc")), appMessage(0x10, make([]byte, 15))} // 9 and 21 bytes
	for _, tc := range []struct {
		name       string
		perMessage bool
		want       []int
	}{
		// One stream of 30 bytes: chunks of 10, the first message ending
		// inside the first chunk.
		{"stream", false, []int{10, 10, 10}},
		// 9 bytes -> one chunk of 9; 21 bytes -> chunks of 10, 10, 1.
		{"chunk per message", true, []int{9, 10, 10, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{BinaryChunksSize: chunkOverhead + 10, ChunkPerMessage: tc.perMessage}
			w, cc := newWriter(cfg)
			require.NoError(t, w.WriteMessages(msgs...))
			raw := cc.buf.Bytes()
			assert.Equal(t, tc.want, chunkSizes(t, raw))

			r := newReader(t, &scriptConn{parts: [][]byte{raw}}, cfg)
			for _, want := range msgs {
				got, err := r.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			assert.Equal(t, w.wnonce, r.rnonce, "one nonce per chunk on both sides")
		})
	}
}

// TestWriterPacksSmallMessages: a batch of small messages costs one chunk
// (one seal, 18 bytes of framing) when it fits, and each batch ends its
// last chunk: nothing waits for the next batch.
func TestWriterPacksSmallMessages(t *testing.T) {
	w, cc := newWriter(&Config{})
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = appMessage(0x10, make([]byte, 94)) // 100 bytes
	}
	require.NoError(t, w.WriteMessages(batch...))
	assert.Equal(t, []int{100 * 100}, chunkSizes(t, cc.buf.Bytes()))
	cc.buf.Reset()
	require.NoError(t, w.WriteMessages(batch[:1]...))
	assert.Equal(t, []int{100}, chunkSizes(t, cc.buf.Bytes()))

	cc.buf.Reset()
	big := make([][]byte, 0, 700)
	for range 700 {
		big = append(big, batch[0])
	}
	require.NoError(t, w.WriteMessages(big...))
	assert.Equal(t, []int{MaxChunkPayload, 70000 - MaxChunkPayload}, chunkSizes(t, cc.buf.Bytes()))
}

// TestWriterGivesLargeMessagesTheirOwnChunks: a message of ownChunkMin
// bytes or more is cut into chunks of its own, sealed from it without a
// copy, while smaller messages around it still share chunks; the reader
// gets the same messages. Before, every chunk ran on across buffers, and
// one that spanned two was copied whole into the stage first (64 KiB
// messages: all of them).
func TestWriterGivesLargeMessagesTheirOwnChunks(t *testing.T) {
	small := appMessage(0x10, make([]byte, 100))       // 106 bytes
	mid := appMessage(0x11, make([]byte, ownChunkMin)) // 8198
	big := appMessage(0x12, make([]byte, 70000))       // 70006
	for i := range big[6:] {
		big[6+i] = byte(i)
	}
	msgs := [][]byte{small, mid, small, small, big, small}
	w, cc := newWriter(&Config{})
	require.NoError(t, w.WriteMessages(msgs...))
	assert.Equal(t, []int{106, 8198, 212, 70006 - MaxChunkPayload, MaxChunkPayload, 106}, chunkSizes(t, cc.buf.Bytes()))
	assert.Equal(t, cc.buf.Len(), streamSealedSize(msgs, MaxChunkPayload), "the size the output buffer is reserved for")

	r := newReader(t, &scriptConn{parts: [][]byte{cc.buf.Bytes()}}, &Config{})
	for i, want := range msgs {
		got, err := r.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, got, "message %d", i)
	}

	// Large buffers alone: nothing is gathered, so no stage is taken.
	w, cc = newWriter(&Config{})
	require.NoError(t, w.WriteMessages(big, mid, big))
	assert.Equal(t, []int{70006 - MaxChunkPayload, MaxChunkPayload, 8198, 70006 - MaxChunkPayload, MaxChunkPayload}, chunkSizes(t, cc.buf.Bytes()))
	assert.Nil(t, w.stage, "a chunk was gathered")
}

// TestWriterChunksArenasBySize: buffers of several messages (the
// outgoing queue's arenas of small ones) are cut by their size, as
// single messages are: under ownChunkMin they are gathered into shared
// chunks, from it on each has chunks of its own, and a full arena (a
// chunk's plaintext) goes out as one full chunk, sealed where it lies.
// Every message reads back in order.
func TestWriterChunksArenasBySize(t *testing.T) {
	var msgs [][]byte
	arena := func(n int) []byte { // n messages of 1006 bytes
		var a []byte
		for range n {
			m := appMessage(0x10, bytes.Repeat([]byte{byte(len(msgs))}, 1000))
			msgs = append(msgs, m)
			a = append(a, m...)
		}
		return a
	}
	first1, first2 := arena(4), arena(4) // 4024 bytes: the first arenas of runs
	mid := arena(16)                     // 16,096 bytes
	first3 := arena(4)
	full := arena(MaxChunkPayload / 1006) // 65,390 bytes: as full as an arena gets
	require.Less(t, len(first1), ownChunkMin)
	require.GreaterOrEqual(t, len(mid), ownChunkMin)
	require.LessOrEqual(t, len(full), MaxChunkPayload)
	bufs := [][]byte{first1, first2, mid, first3, full}

	w, cc := newWriter(&Config{})
	require.NoError(t, w.WriteMessages(bufs...))
	assert.Equal(t, []int{2 * len(first1), len(mid), len(first3), len(full)}, chunkSizes(t, cc.buf.Bytes()))
	assert.Equal(t, cc.buf.Len(), streamSealedSize(bufs, MaxChunkPayload))

	r := newReader(t, &scriptConn{parts: [][]byte{cc.buf.Bytes()}}, &Config{})
	for i, want := range msgs {
		got, err := r.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, got, "message %d", i)
	}
}

// TestMessageEndingInNextChunkReturnedInPlace: a message whose rest is
// all in the next chunk is decrypted into the plaintext buffer after its
// start and returned in place, not assembled (two copies of it, into
// blocks and into one buffer): cut as our writer cuts a large message
// (the rest first, then a full chunk) and as octez cuts one (a full
// chunk, then the rest; ChunkPerMessage). A message over two chunks is
// still assembled.
func TestMessageEndingInNextChunkReturnedInPlace(t *testing.T) {
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	m64 := appMessage(0x10, body)
	m200 := appMessage(0x11, bytes.Repeat(body, 3))
	for _, perMessage := range []bool{false, true} {
		t.Run(fmt.Sprint("perMessage=", perMessage), func(t *testing.T) {
			cfg := &Config{ChunkPerMessage: perMessage}
			w, cc := newWriter(cfg)
			require.NoError(t, w.WriteMessages(m64, m64, m200, m64))
			r := newReader(t, &scriptConn{parts: [][]byte{cc.buf.Bytes()}}, cfg)
			for i, want := range [][]byte{m64, m64, m200, m64} {
				got, err := r.ReadMessage()
				require.NoError(t, err)
				require.Equal(t, want, got, "message %d", i)
				if len(want) == len(m64) {
					assert.True(t, r.msg == nil, "message %d was assembled", i)
				} else {
					assert.True(t, r.msg != nil, "message %d: three chunks, assembled", i)
				}
			}
		})
	}
}

// TestChunkOpenedInPlace: a chunk is opened where it lies in the raw
// buffer and its messages are returned from there, with no plaintext
// buffer: a message that runs on into the next chunk too, its start moved
// up over that chunk's header and tag, when the two chunks lie one after
// the other in the buffer. When the buffer must move to take the rest
// (arriving in small reads here), the start is moved out first, and the
// messages still read right.
func TestChunkOpenedInPlace(t *testing.T) {
	var batch [][]byte
	for i := range 10 {
		batch = append(batch, appMessage(0x10, bytes.Repeat([]byte{byte(i)}, 1000)))
	}
	// Chunks of 4500 bytes: messages 4 and 8 run on into the next one.
	cfg := &Config{BinaryChunksSize: chunkOverhead + 4500}
	w, cc := newWriter(cfg)
	require.NoError(t, w.WriteMessages(batch...))
	for _, tc := range []struct {
		name    string
		maxRead int
		inPlace int
	}{
		{"arrived", 0, 10},
		{"small reads", 700, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReader(t, &scriptConn{parts: [][]byte{cc.buf.Bytes()}, maxRead: tc.maxRead}, cfg)
			inPlace, pooled := 0, 0
			for i, want := range batch {
				got, err := r.ReadMessage()
				require.NoError(t, err)
				require.Equal(t, want, got, "message %d", i)
				if r.ptInIn {
					inPlace++
					in := r.in[:cap(r.in)]
					start := cap(in) - cap(got)
					assert.True(t, start >= 0 && &in[start] == &got[0], "message %d is not in the raw buffer", i)
				}
				if r.ptPooled {
					pooled++
				}
			}
			assert.GreaterOrEqual(t, inPlace, tc.inPlace)
			if tc.maxRead == 0 {
				assert.Zero(t, pooled, "a plaintext buffer was taken")
			}
			assert.Equal(t, w.wnonce, r.rnonce)
		})
	}
}

// FuzzStreamRoundTrip writes fuzzed messages in fuzzed batches with a
// fuzzed chunk size, in both framings, and reads them back through reads
// of fuzzed sizes: the reader must return exactly the messages written,
// whatever the chunk and read boundaries.
func FuzzStreamRoundTrip(f *testing.F) {
	f.Add(uint16(MaxChunkPayload), []byte{1, 2, 3, 200, 0, 7}, uint64(1), false)
	f.Add(uint16(1), []byte{0, 0, 5, 5}, uint64(2), true)
	f.Add(uint16(100), []byte{255, 255, 1, 0, 128, 3, 4}, uint64(3), false)
	f.Add(uint16(30000), []byte{255, 255, 255, 255, 255, 255}, uint64(4), false)
	f.Fuzz(func(t *testing.T, chunk uint16, shape []byte, seed uint64, perMessage bool) {
		if len(shape) > 32 {
			shape = shape[:32]
		}
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		cfg := &Config{BinaryChunksSize: chunkOverhead + int(chunk)%MaxChunkPayload + 1, ChunkPerMessage: perMessage}
		w, cc := newWriter(cfg)
		// Each shape byte is a message: its body length grows fast with
		// the byte (up to about 64 KiB) so that messages span chunks.
		var msgs [][]byte
		for i, s := range shape {
			body := make([]byte, int(s)*int(s)+int(s)%7)
			for j := range body {
				body[j] = byte(i + j)
			}
			msgs = append(msgs, appMessage(0x10+uint16(i), body))
		}
		for rest := msgs; len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			require.NoError(t, w.WriteMessages(rest[:n]...))
			rest = rest[n:]
		}
		raw := cc.buf.Bytes()
		// Cut the stream into parts at random places, and bound reads.
		var parts [][]byte
		for len(raw) > 0 {
			n := 1 + rng.IntN(min(len(raw), 1+rng.IntN(70000)))
			parts = append(parts, raw[:n])
			raw = raw[n:]
		}
		sc := &scriptConn{parts: parts, maxRead: 1 + rng.IntN(100000)}
		r := newReader(t, sc, cfg)
		for i, want := range msgs {
			got, err := r.ReadMessage()
			require.NoError(t, err, "message %d", i)
			require.Equal(t, want, got, "message %d", i)
		}
		_, err := r.ReadMessage()
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, w.wnonce, r.rnonce)
	})
}

// TestStalledChunkHeaderCostsOneChunk: a peer that announces the largest
// chunk and sends nothing more makes the reader take one chunk's buffer,
// no more (it took 256 KiB of raw buffer and 64 KiB of plaintext before).
func TestStalledChunkHeaderCostsOneChunk(t *testing.T) {
	stalls := 0
	sc := &scriptConn{parts: [][]byte{{0xff, 0xff}}}
	sc.stall = func(arrived int) {
		stalls++
		r, _ := scReader.retained()
		assert.LessOrEqual(t, r, MaxChunkSize+1, "after %d bytes", arrived)
	}
	scReader = newReader(t, sc, &Config{})
	_, err := scReader.ReadMessage()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, 1, stalls)
}

// scReader is the reader under test in the stall hooks (the hooks run on
// the reading goroutine, inside its Read).
var scReader *Conn

// TestLargeMessageAllocatesAsItArrives: a 1 MiB message arriving in pieces
// costs the reader, at every stall, no more than what has arrived plus one
// chunk being received plus one reassembly block; and an idle reader,
// once the message is returned and consumed, holds nothing.
func TestLargeMessageAllocatesAsItArrives(t *testing.T) {
	w, cc := newWriter(&Config{})
	msg := appMessage(0x10, bytes.Repeat([]byte("0123456789abcdef"), 1<<16))
	require.NoError(t, w.WriteMessages(msg, appMessage(0x11, []byte("after"))))
	raw := cc.buf.Bytes()
	rng := rand.New(rand.NewPCG(1, 2))
	var parts [][]byte
	for len(raw) > 0 {
		n := min(len(raw), 1+rng.IntN(40000))
		parts = append(parts, raw[:n])
		raw = raw[n:]
	}
	stalls, peak := 0, 0
	sc := &scriptConn{parts: parts}
	sc.stall = func(arrived int) {
		stalls++
		r, _ := scReader.retained()
		peak = max(peak, r-arrived)
		require.LessOrEqual(t, r, arrived+MaxChunkSize+1+blockSize, "stall %d after %d bytes", stalls, arrived)
	}
	scReader = newReader(t, sc, &Config{})
	got, err := scReader.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, msg, got)
	got, err = scReader.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, appMessage(0x11, []byte("after")), got)
	// The last stall is the reader waiting for the next chunk header.
	sc.stall = func(int) {
		r, _ := scReader.retained()
		assert.Zero(t, r, "idle reader")
	}
	_, err = scReader.ReadMessage()
	require.ErrorIs(t, err, io.EOF)
	assert.Greater(t, stalls, 20)
	t.Logf("%d stalls, at most %d bytes held beyond those arrived", stalls, peak)
}

// TestIdleConnHoldsNoBuffers: between messages the reader waits on its
// inline array, and the writer holds nothing once it released its buffers.
func TestIdleConnHoldsNoBuffers(t *testing.T) {
	w, cc := newWriter(&Config{})
	msgs := [][]byte{appMessage(0x10, make([]byte, 100)), appMessage(0x10, make([]byte, 40000)), appMessage(0x10, make([]byte, 200000))}
	require.NoError(t, w.WriteMessages(msgs...))
	_, held := w.retained()
	assert.Positive(t, held)
	w.ReleaseWriteBuffers()
	_, held = w.retained()
	assert.Zero(t, held)

	idle := 0
	sc := &scriptConn{parts: [][]byte{cc.buf.Bytes()}}
	sc.stall = func(int) {
		idle++
		r, _ := scReader.retained()
		assert.Zero(t, r)
	}
	scReader = newReader(t, sc, &Config{})
	for _, want := range msgs {
		got, err := scReader.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := scReader.ReadMessage()
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 1, idle)
}

// TestWriterKeepsTheMessageSizeLimit: both framings refuse a message over
// the limit before writing anything.
func TestWriterKeepsTheMessageSizeLimit(t *testing.T) {
	for _, perMessage := range []bool{false, true} {
		w, cc := newWriter(&Config{MaxMessageSize: 100, ChunkPerMessage: perMessage})
		err := w.WriteMessages(appMessage(0x10, nil), appMessage(0x10, make([]byte, 100)))
		require.ErrorIs(t, err, ErrInvalidMessageSize)
		assert.Zero(t, cc.buf.Len())
		assert.False(t, errors.Is(w.WriteMessages(appMessage(0x10, nil)), ErrInvalidMessageSize), "not sticky: nothing was written")
	}
}

// pacedCapture is a captureConn whose writes are paced in quanta.
type pacedCapture struct {
	captureConn
	quantum int
}

func (c *pacedCapture) WriteQuantum() int { return c.quantum }

// TestPacedWriterKeepsChunksWithinAQuantum: under a bandwidth limit a
// chunk is no bigger than the scheduler's quantum (header and MAC
// included), so a message packed with later ones waits at most for a
// quantum; unpaced, chunks are full size again.
func TestPacedWriterKeepsChunksWithinAQuantum(t *testing.T) {
	pc := &pacedCapture{quantum: 1000}
	w := newConn(pc, &Config{})
	w.key = streamKey
	batch := make([][]byte, 30)
	for i := range batch {
		batch[i] = appMessage(0x10, make([]byte, 94)) // 100 bytes
	}
	require.NoError(t, w.WriteMessages(batch...))
	assert.Equal(t, []int{982, 982, 982, 54}, chunkSizes(t, pc.buf.Bytes()))
	pc.buf.Reset()
	pc.quantum = 0
	require.NoError(t, w.WriteMessages(batch...))
	assert.Equal(t, []int{3000}, chunkSizes(t, pc.buf.Bytes()))
}

// writeSizes is a captureConn that also records the size of each Write.
type writeSizes struct {
	captureConn
	sizes []int
}

func (c *writeSizes) Write(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.captureConn.Write(p)
}

// TestWriterWritesLargeBatchesInPieces: a batch that seals to more than
// writePiece goes out in Writes of at most one piece and the chunk that
// crosses its end, and the writer's sealed buffer never grows past that
// (it held the whole sealed batch, 256 KiB from the pool's writer,
// before); the bytes are the stream one Write would have sent, in both
// framings.
func TestWriterWritesLargeBatchesInPieces(t *testing.T) {
	var msgs [][]byte
	for i := range 300 { // 300 KiB of 1 KiB messages, and a 200 KiB one
		msgs = append(msgs, appMessage(0x10, bytes.Repeat([]byte{byte(i)}, 1<<10)))
	}
	msgs = append(msgs, appMessage(0x20, make([]byte, 200<<10)))
	for _, perMessage := range []bool{false, true} {
		t.Run(fmt.Sprint("perMessage=", perMessage), func(t *testing.T) {
			cfg := &Config{ChunkPerMessage: perMessage}
			cc := &writeSizes{}
			w := newConn(cc, cfg)
			w.key = streamKey
			require.NoError(t, w.WriteMessages(msgs...))
			require.Greater(t, len(cc.sizes), 1, "one Write for the whole batch")
			for _, n := range cc.sizes {
				assert.LessOrEqual(t, n, writePiece+MaxChunkSize)
			}
			assert.LessOrEqual(t, cap(w.out), 128<<10, "the sealed buffer holds a piece, not the batch")

			// The same stream as sealing the batch at once.
			ref, _ := newWriter(cfg)
			var want []byte
			if perMessage {
				for _, m := range msgs {
					want = ref.appendSealed(want, m)
				}
			} else {
				plain := 0
				for _, m := range msgs {
					plain += len(m)
				}
				want = ref.appendStream(nil, msgs, plain, cfg.chunkPayload())
			}
			require.Equal(t, want, cc.buf.Bytes())

			r := newReader(t, &scriptConn{parts: [][]byte{cc.buf.Bytes()}}, cfg)
			for i, m := range msgs {
				got, err := r.ReadMessage()
				require.NoError(t, err)
				require.Equal(t, m, got, "message %d", i)
			}
		})
	}
}

// TestParkOnlyWhenNothingWaits: Park says yes only once every byte that
// arrived is used, decrypted or not, and then holds no buffer; reading
// goes on from the network after it.
func TestParkOnlyWhenNothingWaits(t *testing.T) {
	// One chunk per message, so that the second message of a read waits
	// in the read buffer still sealed: Buffered alone misses it.
	w, cc := newWriter(&Config{ChunkPerMessage: true})
	small := [][]byte{appMessage(0x10, make([]byte, 100)), appMessage(0x11, make([]byte, 50))}
	require.NoError(t, w.WriteMessages(small...))
	first := bytes.Clone(cc.buf.Bytes())
	cc.buf.Reset()
	big := appMessage(0x12, make([]byte, 200000))
	require.NoError(t, w.WriteMessages(big))
	second := bytes.Clone(cc.buf.Bytes())

	r := newReader(t, &scriptConn{parts: [][]byte{first, second}}, &Config{ChunkPerMessage: true})
	assert.True(t, r.Park(), "nothing read yet")
	got, err := r.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, small[0], got)
	assert.False(t, r.Park(), "the second message arrived with the first, still sealed")
	got, err = r.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, small[1], got)
	require.True(t, r.Park(), "both messages used")
	held, _ := r.retained()
	assert.Zero(t, held, "a parked reader holds no buffer")
	assert.Nil(t, r.idle, "nor a buffer of its own to wait on in a read")
	got, err = r.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, big, got)
	assert.True(t, r.Park())
	_, err = r.ReadMessage()
	require.ErrorIs(t, err, io.EOF)
	assert.False(t, r.Park(), "after an error")
}

// TestReadBufferGrowsWhileTheSocketStaysFull: a reader whose reads keep
// filling their room doubles its buffer up to flowReadMax, and so reads
// a long stream in fewer reads than flowReadSize would take; one whose
// reads come back short keeps to flowReadSize, so a peer that sends in
// small pieces cannot make it hold more.
func TestReadBufferGrowsWhileTheSocketStaysFull(t *testing.T) {
	w, cc := newWriter(&Config{})
	var msgs [][]byte
	for i := range 2048 {
		msgs = append(msgs, appMessage(0x10, bytes.Repeat([]byte{byte(i)}, 1000)))
	}
	require.NoError(t, w.WriteMessages(msgs...))
	raw := cc.buf.Bytes()
	for _, tc := range []struct {
		name    string
		maxRead int
		want    int
	}{
		{"full socket", 0, flowReadMax},
		{"reads of 4 KiB", 4 << 10, flowReadSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &scriptConn{parts: [][]byte{bytes.Clone(raw)}, maxRead: tc.maxRead}
			rc := &countingConn{scriptConn: sc}
			r := newConn(rc, &Config{})
			r.key = streamKey
			t.Cleanup(r.Free)
			largest := 0
			for i, want := range msgs {
				got, err := r.ReadMessage()
				require.NoError(t, err)
				require.Equal(t, want, got, "message %d", i)
				largest = max(largest, len(r.in))
			}
			assert.Equal(t, tc.want, largest, "largest read buffer")
			if tc.maxRead == 0 {
				assert.Less(t, rc.reads, len(raw)/flowReadSize, "reads of %d bytes", len(raw))
			}
		})
	}
}

// countingConn counts the Reads of its scriptConn.
type countingConn struct {
	*scriptConn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.scriptConn.Read(p)
}
