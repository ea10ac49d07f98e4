package p2ppool

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Tests with a scripted peer (rawPeer, helpers_test.go) that runs the real
// handshake and then writes crafted bytes, and with peers that misbehave
// during the handshake.

// hostileMessages is the harness's text encoding plus "small" (tag 0x1001,
// bodies of at most 8 bytes), which only peers send.
func hostileMessages() MessageConfig[text] {
	small := Encoding[text]{
		Tag: 0x1001, Name: "small", MaxLength: 8,
		Encode: func(dst []byte, _ text) ([]byte, bool, error) { return dst, false, nil },
		Decode: func(b []byte) (text, error) { return string(b), nil },
	}
	msgs := textMessages()
	msgs.Encodings = append(msgs.Encodings, small)
	return msgs
}

func TestHostilePeerMessages(t *testing.T) {
	// Each case has the scripted peer send something and says how the
	// pool's end of that connection must end; the pool's other
	// connections must not notice.
	// message seals b as a message, whatever it holds: WriteMessages does
	// not parse it.
	message := func(b []byte) func(*rawPeer) error {
		return func(rp *rawPeer) error { return rp.sc.WriteMessages(b) }
	}
	rawBytes := func(b []byte) func(*rawPeer) error {
		return func(rp *rawPeer) error { _, err := rp.nc.Write(b); return err }
	}
	var tooManyPoints []byte
	for i := range wire.MaxAdvertisePoints + 1 {
		tooManyPoints = wire.AppendPoint(tooManyPoints, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1000+i)))
	}
	cases := []struct {
		name   string
		send   func(*rawPeer) error
		reason DisconnectReason
		want   error // in the *DisconnectError's chain; nil: no underlying error
	}{
		{"unknown tag", message(appMsg(0x2000, dataenc.AppendString(nil, "hi"))), ReasonProtocolError, ErrUnknownTag},
		{"truncated string", message(appMsg(0x1000, []byte{0, 0, 0, 10, 'a', 'b', 'c'})), ReasonProtocolError, ErrDecode},
		{"bytes after the string", message(appMsg(0x1000, append(dataenc.AppendString(nil, "ok"), 0))), ReasonProtocolError, ErrDecode},
		{"body over the encoding's MaxLength", message(appMsg(0x1001, make([]byte, 9))), ReasonProtocolError, ErrMessageTooLarge},
		{"message over the pool's bound", message(appMsg(0x1000, dataenc.AppendString(nil, string(make([]byte, 1<<20))))), ReasonProtocolError, ErrInvalidMessageSize},
		{"empty message", message([]byte{0, 0, 0, 0}), ReasonProtocolError, ErrInvalidMessageSize},
		{"Advertise of a bad point", message(appMsg(wire.TagAdvertise, dataenc.AppendString(nil, "not a point"))), ReasonProtocolError, ErrDecode},
		{"Advertise of too many points", message(appMsg(wire.TagAdvertise, tooManyPoints)), ReasonProtocolError, ErrDecode},
		{"Disconnect with a body", message(appMsg(wire.TagDisconnect, []byte{0})), ReasonProtocolError, ErrDecode},
		{"garbage instead of a chunk", rawBytes(append([]byte{0, 32}, make([]byte, 32)...)), ReasonProtocolError, ErrDecipher},
		{"chunk shorter than its MAC", rawBytes([]byte{0, 5, 1, 2, 3, 4, 5}), ReasonProtocolError, ErrInvalidChunkSize},
		{"Disconnect", message(appMsg(wire.TagDisconnect, nil)), ReasonRemoteDisconnect, nil},
		{"close", func(rp *rawPeer) error { return rp.nc.Close() }, ReasonRemoteClosed, io.EOF},
	}
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			nd := newMsgNode(t, n, hostileMessages(), nil)
			friend := newMsgNode(t, n, hostileMessages(), nil)
			toFriend, fromNode := connect(t, nd, friend)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					before := nd.Stats()
					rp, conn := dialRaw(t, n, nd)
					// The pool may hang up before the write is over.
					sent := make(chan error, 1)
					go func() { sent <- tc.send(rp) }()
					de := endReason(t, conn)
					assert.Equal(t, tc.reason, de.Reason)
					assert.True(t, de.Remote)
					if tc.want != nil {
						assert.ErrorIs(t, de, tc.want)
					} else {
						assert.NoError(t, de.Err)
					}
					rp.nc.Close() // ends a write the pool left unread
					recvErr(t, sent, "the scripted peer's write")

					// Counted in Stats: the ending by its reason, and a
					// message refused for its size (the pool's bound or its
					// encoding's) as oversized.
					after := nd.Stats()
					assert.Equal(t, before.Connections.Ended[tc.reason]+1, after.Connections.Ended[tc.reason], "Stats.Connections.Ended[%v]", tc.reason)
					oversized := errors.Is(tc.want, ErrMessageTooLarge) || tc.name == "message over the pool's bound"
					assert.Equal(t, before.Messages.Oversized+map[bool]uint64{true: 1}[oversized], after.Messages.Oversized, "Stats.Messages.Oversized")

					// What no honest implementation sends costs the peer a
					// greylist entry for its id and address: a message that
					// does not decode (as in octez), and also a chunk that
					// fails authentication or has a bad size, or a message
					// over the bound (octez only ends the connection).
					// Closing or saying Disconnect costs nothing.
					addr, _ := addrPortOf(conn.Info().RemoteAddr)
					greylisted := tc.reason == ReasonProtocolError
					assert.Equal(t, greylisted, nd.Peers().Banned(rp.id.PeerID), "peer greylisted")
					assert.Equal(t, greylisted, nd.ACL().AddrBanned(addr.Addr()), "address greylisted")
					// The next case dials from the same address.
					nd.ACL().Clear()

					// The pool's other connection still works both ways.
					ctx := ctxT(t)
					require.NoError(t, toFriend.Write(ctx, "still there?"))
					assert.Equal(t, []text{"still there?"}, readN(t, fromNode, 1))
					require.NoError(t, fromNode.Write(ctx, "yes"))
					assert.Equal(t, []text{"yes"}, readN(t, toFriend, 1))
					assert.Equal(t, 1, nd.Conns().Len())
				})
			}
		})
	}
}

func TestHostileHandshakes(t *testing.T) {
	const timeout = 200 * time.Millisecond
	cases := []struct {
		name string
		// act misbehaves against nd and returns once nd has hung up.
		act func(t *testing.T, n *network, nd *node)
		// want is the refusal counted.
		want RefusalReason
	}{
		{"silent peer times out", func(t *testing.T, n *network, nd *node) {
			start := time.Now()
			nc := dialSilent(t, n, nd)
			assert.Equal(t, io.EOF, waitRemoteEOF(t, nc))
			assert.GreaterOrEqual(t, time.Since(start), timeout)
		}, RefusedHandshakeTimeout},
		{"garbage connection message", func(t *testing.T, n *network, nd *node) {
			nc := dialSilent(t, n, nd)
			_, err := nc.Write([]byte{0, 5, 1, 2, 3, 4, 5})
			require.NoError(t, err)
			assert.Equal(t, io.EOF, waitRemoteEOF(t, nc))
		}, RefusedHandshakeFailed},
		{"peer closes mid-handshake", func(t *testing.T, n *network, nd *node) {
			nc := dialSilent(t, n, nd)
			_, err := nc.Write([]byte{0, 100, 1, 2, 3})
			require.NoError(t, err)
			require.NoError(t, nc.Close())
		}, RefusedHandshakeFailed},
	}
	for _, name := range networks {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				run := func(t *testing.T) {
					n := newNetwork(name)
					nd := newNode(t, n, func(c *Config) { c.Timeouts.Authentication = timeout })
					tc.act(t, n, nd)
					requireRefused(t, nd, map[RefusalReason]uint64{tc.want: 1})
					waitFor(t, "the handshake slot to be freed", func() bool { return nd.Stats().Connections.IncomingHandshakes == 0 })
					assert.Zero(t, nd.Conns().Len())
				}
				// Over the mem network the timeout runs on synctest's clock.
				if name == "mem" {
					synctest.Test(t, run)
				} else {
					run(t)
				}
			})
		}
	}
}

func TestConnectToSilentPointTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			run := func(t *testing.T) {
				n := newNetwork(name)
				a := newNode(t, n, func(c *Config) { c.Timeouts.Connection = timeout })
				silent := newSilentListener(t, n)
				start := time.Now()
				_, err := a.Connect(context.Background(), silent.point)
				require.ErrorIs(t, err, ErrTimeout)
				var he *HandshakeError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, StageConnectionMessage, he.Stage)
				assert.GreaterOrEqual(t, time.Since(start), timeout)
				state, _ := pointState(a.testPool, silent.point)
				assert.Equal(t, PointDisconnected, state)
			}
			if name == "mem" {
				synctest.Test(t, run)
			} else {
				run(t)
			}
		})
	}
}

func TestScriptedPeerBootstrap(t *testing.T) {
	// The scripted peer sends Bootstrap, then an application message; once
	// the pool has read the latter it has handled the former, so whatever
	// it answered is queued before the reply the test then writes.
	cases := []struct {
		name      string
		mutate    func(*Config)
		private   bool // the scripted peer says it is a private node
		advertise bool
	}{
		{"answered with known points", nil, false, true},
		{"peer discovery disabled", func(c *Config) { c.Network.DisablePeerDiscovery = true }, false, false},
		{"private peer", nil, true, false},
	}
	for _, name := range networks {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				n := newNetwork(name)
				nd, other := newNode(t, n, tc.mutate), newNode(t, n, nil)
				connect(t, nd, other) // nd dialled other: other's point is public
				rp, conn := dialRawMeta(t, n, nd, wire.Metadata{PrivateNode: tc.private})
				assert.Equal(t, tc.private, conn.Info().PrivateNode)
				require.NoError(t, rp.sc.WriteMessages(appMsg(wire.TagBootstrap, nil), appMsg(0x1000, dataenc.AppendString(nil, "ping"))))
				assert.Equal(t, []text{"ping"}, readN(t, conn, 1))
				require.NoError(t, conn.Write(ctxT(t), "pong"))

				raw, err := rp.sc.ReadMessage()
				require.NoError(t, err)
				m, err := wire.DecodeMessage(raw)
				require.NoError(t, err)
				if tc.advertise {
					require.Equal(t, wire.TagAdvertise, m.Tag)
					assert.Contains(t, m.Points, other.point)
					raw, err = rp.sc.ReadMessage()
					require.NoError(t, err)
					m, err = wire.DecodeMessage(raw)
					require.NoError(t, err)
				}
				assert.Equal(t, uint16(0x1000), m.Tag, "no Advertise before the reply")
				assert.Equal(t, dataenc.AppendString(nil, "pong"), m.Body)
			})
		}
	}
}

// TestUnknownMessagesIgnored: with UnknownMessagesIgnore, a message of an
// undeclared tag is dropped and counted, the connection goes on and the
// peer is not greylisted; what follows it is read as usual.
func TestUnknownMessagesIgnored(t *testing.T) {
	for _, name := range networks {
		t.Run(name, func(t *testing.T) {
			n := newNetwork(name)
			nd := newMsgNode(t, n, textMessages(), func(c *Config) { c.Wire.UnknownMessages = UnknownMessagesIgnore })
			rp, conn := dialRaw(t, n, nd)
			require.NoError(t, rp.sc.WriteMessages(
				appMsg(0x10, dataenc.AppendString(nil, "Get_current_branch, say")),
				appMsg(0x1000, dataenc.AppendString(nil, "after it")),
			))
			assert.Equal(t, []text{"after it"}, readN(t, conn, 1))
			assert.NoError(t, conn.Err())
			assert.Equal(t, uint64(1), conn.Stat().Unknown)
			assert.Equal(t, uint64(1), nd.Stats().Messages.Unknown)
			assert.False(t, nd.Peers().Banned(rp.id.PeerID))
			// A message of a declared tag that does not decode still costs
			// the connection.
			require.NoError(t, rp.sc.WriteMessages(appMsg(0x1000, []byte{0, 0, 0, 9})))
			assert.Equal(t, ReasonProtocolError, endReason(t, conn).Reason)
		})
	}
}
