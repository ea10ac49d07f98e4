package p2ppooltest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notified returns a function for NotifyReadable that counts its calls
// on ch.
func notified() (func(), chan struct{}) {
	ch := make(chan struct{}, 4)
	return func() { ch <- struct{}{} }, ch
}

// TestNotifyReadable: a reader left to be notified hears of each way a
// Read stops waiting, once, and is told to read when a Read would not
// wait.
func TestNotifyReadable(t *testing.T) {
	wake := map[string]func(client, server *Conn){
		"write":          func(client, server *Conn) { client.Write([]byte("x")) },
		"peer close":     func(client, server *Conn) { client.Close() },
		"close":          func(client, server *Conn) { server.Close() },
		"reset":          func(client, server *Conn) { client.Reset() },
		"close write":    func(client, server *Conn) { client.CloseWrite() },
		"read deadline":  func(client, server *Conn) { server.SetReadDeadline(time.Now().Add(time.Millisecond)) },
		"deadline moved": func(client, server *Conn) { server.SetReadDeadline(time.Now().Add(-time.Second)) },
	}
	for name, do := range wake {
		t.Run(name, func(t *testing.T) {
			clocks(t, func(t *testing.T) {
				client, server := pair(t, NewNetwork(Config{}))
				f, ch := notified()
				require.True(t, server.NotifyReadable(f), "nothing to read: armed")
				// What concerns writers only wakes no parked reader: the
				// write deadlines of both ends (the peer's is on the pipe
				// this end reads).
				client.SetWriteDeadline(time.Now().Add(time.Hour))
				server.SetWriteDeadline(time.Now().Add(time.Hour))
				settle()
				assert.Empty(t, ch, "notified before anything that ends a Read's wait")
				do(client, server)
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Fatal("not notified")
				}
				// The Read it makes does not wait.
				r := await(t, goRead(server, 8), "the Read after the notice")
				if name == "write" {
					assert.Equal(t, "x", string(r.b))
				} else {
					assert.Error(t, r.err)
				}
				settle()
				assert.Empty(t, ch, "notified twice")
			})
		})
	}
}

// TestNotifyReadableRefusesWhenAReadWouldNotWait: with bytes, an end of
// stream or an error waiting, or with faults that make the wait end with
// the clock, the caller is told to read instead.
func TestNotifyReadableRefusesWhenAReadWouldNotWait(t *testing.T) {
	nw := NewNetwork(Config{})
	f, ch := notified()

	client, server := pair(t, nw)
	client.Write([]byte("x"))
	assert.False(t, server.NotifyReadable(f), "bytes waiting")

	client, server = pair(t, nw)
	client.CloseWrite()
	assert.False(t, server.NotifyReadable(f), "end of stream")

	client, server = pair(t, nw)
	server.Close()
	assert.False(t, server.NotifyReadable(f), "closed")

	client, server = pair(t, nw)
	client.SetFaults(Faults{Latency: time.Hour})
	client.Write([]byte("x"))
	assert.False(t, server.NotifyReadable(f), "bytes on their way")

	client, server = pair(t, nw)
	client.SetFaults(Faults{Stalled: true})
	assert.False(t, server.NotifyReadable(f), "stalled")

	settle()
	assert.Empty(t, ch, "a refused notice ran")
}
