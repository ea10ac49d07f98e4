package socket

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// FuzzReadMessage feeds the message reader an arbitrary plaintext stream,
// sealed in chunks of a fuzzed size (so message boundaries fall anywhere
// in chunks), and checks that it never panics, returns exactly the
// messages the stream starts with, and stops with a size error or at the
// end of the stream.
func FuzzReadMessage(f *testing.F) {
	f.Add(uint16(MaxChunkPayload), appMessage(0x10, []byte("hello")), uint32(1000))
	f.Add(uint16(1), append(appMessage(0x10, nil), appMessage(0x2, nil)...), uint32(100))
	f.Add(uint16(7), []byte{0, 0, 0, 0}, uint32(100))
	f.Add(uint16(3), []byte{0xff, 0xff, 0xff, 0xff, 0, 0x10}, uint32(100))
	f.Add(uint16(5), []byte{0, 0, 0, 8, 0, 0x10, 1}, uint32(100))
	f.Fuzz(func(t *testing.T, chunk uint16, stream []byte, maxMsg uint32) {
		payload := int(chunk)%MaxChunkPayload + 1
		limit := int(maxMsg%(1<<20)) + 1
		key := crypto.ChannelKey{7}
		var nonce crypto.Nonce
		w := &Conn{key: key, wnonce: nonce, chunkPayload: payload}
		sealed := w.appendSealed(nil, stream)
		r := newConn(streamConn{r: bytes.NewReader(sealed)}, &Config{MaxMessageSize: limit})
		r.key, r.rnonce = key, nonce
		defer r.Free()

		rest := stream
		for {
			m, err := r.ReadMessage()
			if err != nil {
				switch {
				case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
					// The stream ended inside or between messages: what is
					// left must not be a whole valid message.
					if len(rest) >= 4 {
						if n, lerr := wire.MessageLen(rest[:4], limit); lerr == nil && n <= len(rest) {
							t.Fatalf("stopped with a whole %d-byte message left: %v", n, err)
						}
					}
				case errors.Is(err, ErrInvalidMessageSize):
					if _, lerr := wire.MessageLen(rest[:4], limit); lerr == nil {
						t.Fatalf("size error on a valid size prefix %x", rest[:4])
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !bytes.HasPrefix(rest, m) {
				t.Fatalf("message %x is not the next part of the stream", m)
			}
			rest = rest[len(m):]
		}
	})
}
