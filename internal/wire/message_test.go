package wire

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageV8(t *testing.T) {
	in := unhex(t, v8Bootstrap)
	m, err := DecodeMessage(in)
	require.NoError(t, err)
	assert.Equal(t, Message{Tag: TagBootstrap}, m)
	assert.Equal(t, in, m.Append(nil))
	assert.Equal(t, len(in), m.Size())

	_, err = DecodeMessage(unhex(t, v8RejectedEmpty))
	require.ErrorIs(t, err, ErrInvalid, "S = 0 leaves no room for the tag")
	_, err = DecodeMessage(unhex(t, v8RejectedBadSize))
	require.ErrorIs(t, err, ErrTrailingBytes, "Bootstrap has an empty body")
	assert.EqualError(t, err, "dataenc: decode message: bootstrap: trailing bytes")
}

func TestMessageV9Advertise(t *testing.T) {
	body := unhex(t, v9AdvertiseBody)
	in := envelope(TagAdvertise, body)
	m, err := DecodeMessage(in)
	require.NoError(t, err)
	require.Equal(t, TagAdvertise, m.Tag)
	var got []string
	for _, p := range m.Points {
		got = append(got, FormatPoint(p))
	}
	assert.Equal(t, v9Points, got)
	assert.Equal(t, in, m.Append(nil), "byte-exact re-encoding")
	assert.Equal(t, len(in), m.Size())
	checkPrefixesAndTrailing(t, in, func(b []byte) error {
		_, err := DecodeMessage(b)
		return err
	})
}

func TestMessageV10Swap(t *testing.T) {
	// The length-valid V10 point is still refused: "xxx…" is not ip:port.
	for _, tag := range []uint16{TagSwapRequest, TagSwapAck} {
		_, err := DecodeMessage(envelope(tag, v10Swap(t, v10SwapBodyLenValid, 47)))
		require.ErrorIs(t, err, ErrInvalid)
		_, err = DecodeMessage(envelope(tag, v10Swap(t, v10SwapBodyLenTooBig, 48)))
		require.ErrorIs(t, err, ErrTooLarge)
	}
}

func TestMessageRoundTrips(t *testing.T) {
	var id [16]byte
	for i := range id {
		id[i] = byte(i)
	}
	longest := netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
	var hundred []netip.AddrPort
	for i := range MaxAdvertisePoints {
		hundred = append(hundred, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(i)))
	}
	tests := []struct {
		name string
		m    Message
		want string // expected hex, if known
	}{
		{"disconnect", Message{Tag: TagDisconnect}, "000000020001"},
		{"bootstrap", Message{Tag: TagBootstrap}, "000000020002"},
		{"empty advertise", Message{Tag: TagAdvertise}, "000000020003"},
		{"advertise 100", Message{Tag: TagAdvertise, Points: hundred}, ""},
		{"swap request", Message{Tag: TagSwapRequest, Point: netip.MustParseAddrPort("1.2.3.4:5"), PeerID: id},
			"0000001f0004" + "00000009" + "312e322e332e343a35" + "000102030405060708090a0b0c0d0e0f"},
		{"swap ack longest point", Message{Tag: TagSwapAck, Point: longest, PeerID: id}, ""},
		{"app message", Message{Tag: 0x0010, Body: []byte{0x9c, 0xae, 0xca, 0xb9}}, "0000000600109caecab9"},
		{"app message tag 0", Message{Tag: 0, Body: []byte{1}}, "00000003000001"},
		{"app message empty body", Message{Tag: 0xFFFF, Body: []byte{}}, "00000002ffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := tt.m.Append(nil)
			if tt.want != "" {
				assert.Equal(t, unhex(t, tt.want), enc)
			}
			assert.Equal(t, len(enc), tt.m.Size())
			got, err := DecodeMessage(enc)
			require.NoError(t, err)
			assert.Equal(t, tt.m, got)
			assert.Equal(t, enc, got.Append(nil))
			checkPrefixesAndTrailing(t, enc, func(b []byte) error {
				_, err := DecodeMessage(b)
				return err
			})
		})
	}
}

func TestMessageAppendNormalizes(t *testing.T) {
	var pts []netip.AddrPort
	for range MaxAdvertisePoints + 5 {
		pts = append(pts, netip.MustParseAddrPort("[::ffff:1.2.3.4]:1"))
	}
	m := Message{Tag: TagAdvertise, Points: pts, Body: []byte("ignored")}
	got, err := DecodeMessage(m.Append(nil))
	require.NoError(t, err)
	require.Len(t, got.Points, MaxAdvertisePoints, "Append writes at most MaxAdvertisePoints")
	assert.Equal(t, netip.MustParseAddrPort("1.2.3.4:1"), got.Points[0])
	assert.Nil(t, got.Body)
}

func TestMessageErrors(t *testing.T) {
	var id [16]byte
	swapMsg := Message{Tag: TagSwapRequest, Point: netip.MustParseAddrPort("1.2.3.4:5"), PeerID: id}
	swap := swapMsg.Append(nil)
	onePoint := AppendPoint(nil, netip.MustParseAddrPort("1.2.3.4:5"))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"S=1", []byte{0, 0, 0, 1, 0}, ErrInvalid},
		{"S over 100 MiB", []byte{0x06, 0x40, 0x00, 0x00, 0, 1}, ErrTooLarge},
		{"S = 4 GiB", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 1}, ErrTooLarge},
		{"S beyond input", []byte{0, 0, 0, 9, 0, 0x10}, ErrTruncated},
		{"S short of input", []byte{0, 0, 0, 2, 0, 0x10, 1}, ErrTrailingBytes},
		{"disconnect with body", envelope(TagDisconnect, []byte{0}), ErrTrailingBytes},
		{"advertise partial point", envelope(TagAdvertise, onePoint[:5]), ErrTruncated},
		{"advertise bad point", envelope(TagAdvertise, dataenc.AppendString(nil, "1.2.3.4")), ErrInvalid},
		{"advertise 101 points", envelope(TagAdvertise, bytes.Repeat(onePoint, MaxAdvertisePoints+1)), ErrTooLarge},
		{"swap without peer id", swap[:len(swap)-16], ErrTruncated}, // size prefix says more
		{"swap short peer id", envelope(TagSwapRequest, append(onePoint, make([]byte, 15)...)), ErrTruncated},
		{"swap long peer id", envelope(TagSwapAck, append(onePoint, make([]byte, 17)...)), ErrTrailingBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMessage(tt.in)
			require.ErrorIs(t, err, tt.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
}

func TestMessageMaxSize(t *testing.T) {
	body := make([]byte, MaxMessageSize-6)
	in := AppendAppMessage(nil, 0x20, body)
	require.Len(t, in, MaxMessageSize)
	m, err := DecodeMessage(in)
	require.NoError(t, err)
	assert.Len(t, m.Body, len(body))

	in = AppendAppMessage(nil, 0x20, append(body, 0))
	_, err = DecodeMessage(in)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestMessageLen(t *testing.T) {
	tests := []struct {
		name string
		hdr  []byte
		max  int
		want int
		err  error
	}{
		{"bootstrap", []byte{0, 0, 0, 2}, 0, 6, nil},
		{"extra bytes ignored", []byte{0, 0, 0, 2, 0, 2, 9}, 0, 6, nil},
		{"at max", []byte{0, 0, 0, 6}, 10, 10, nil},
		{"over max", []byte{0, 0, 0, 7}, 10, 0, ErrTooLarge},
		{"100 MiB", []byte{0x06, 0x3F, 0xFF, 0xFC}, 0, MaxMessageSize, nil},
		{"over 100 MiB", []byte{0x06, 0x3F, 0xFF, 0xFD}, 0, 0, ErrTooLarge},
		{"max above limit is clamped", []byte{0x06, 0x3F, 0xFF, 0xFD}, 1 << 40, 0, ErrTooLarge},
		{"4 GiB", []byte{0xFF, 0xFF, 0xFF, 0xFF}, 0, 0, ErrTooLarge},
		{"S=0", []byte{0, 0, 0, 0}, 0, 0, ErrInvalid},
		{"S=1", []byte{0, 0, 0, 1}, 0, 0, ErrInvalid},
		{"short", []byte{0, 0, 2}, 0, 0, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := MessageLen(tt.hdr, tt.max)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, n)
		})
	}
}

func TestBeginEndMessage(t *testing.T) {
	dst := []byte("xx")
	dst, start := BeginMessage(dst, 0x13)
	assert.Equal(t, 2, start)
	dst = append(dst, 0x9c, 0xae, 0xca, 0xb9)
	dst, err := EndMessage(dst, start)
	require.NoError(t, err)
	assert.Equal(t, append([]byte("xx"), unhex(t, "0000000600139caecab9")...), dst)
	assert.Equal(t, dst[2:], AppendAppMessage(nil, 0x13, unhex(t, "9caecab9")))

	// Too large: the partial message is dropped.
	big, start := BeginMessage([]byte("keep"), 0x20)
	big = append(big, make([]byte, MaxMessageSize-5)...)
	out, err := EndMessage(big, start)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, []byte("keep"), out)

	_, err = EndMessage([]byte{1, 2, 3}, 0)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = EndMessage(make([]byte, 10), -1)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestIsReservedTag(t *testing.T) {
	for tag := range 0x10000 {
		assert.Equal(t, tag >= 1 && tag <= 5, IsReservedTag(uint16(tag)))
	}
}

func TestDecodeAppMessageDoesNotAllocate(t *testing.T) {
	in := AppendAppMessage(nil, 0x31, bytes.Repeat([]byte{7}, 100))
	allocs := testing.AllocsPerRun(100, func() {
		m, err := DecodeMessage(in)
		if err != nil || len(m.Body) != 100 {
			panic("decode failed")
		}
	})
	assert.Zero(t, allocs)
	m, err := DecodeMessage(in)
	require.NoError(t, err)
	assert.Same(t, &in[6], &m.Body[0], "Body aliases the input")
	assert.Equal(t, len(m.Body), cap(m.Body))
}

func TestDecodeMessageErrorText(t *testing.T) {
	_, err := DecodeMessage(envelope(TagAdvertise, dataenc.AppendString(nil, "1.2.3.4")))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `dataenc: decode message: advertise: id: point "1.2.3.4": no port`), err.Error())
}

// Size returns the length of m's encoding, size prefix included. Senders
// of application messages compare it with MaxMessageSize (Append does not
// check).
func (m *Message) Size() int {
	n := messageHeaderSize
	switch m.Tag {
	case TagDisconnect, TagBootstrap:
	case TagAdvertise:
		pts := m.Points
		if len(pts) > MaxAdvertisePoints {
			pts = pts[:MaxAdvertisePoints]
		}
		for _, p := range pts {
			n += pointSize(p)
		}
	case TagSwapRequest, TagSwapAck:
		n += pointSize(m.Point) + PeerIDSize
	default:
		n += len(m.Body)
	}
	return n
}

// pointSize is the encoded size of p.
func pointSize(p netip.AddrPort) int {
	var buf [MaxPointText]byte
	return 4 + len(appendPointText(buf[:0], p))
}

// AppendAppMessage appends an application message envelope around body.
// It does not check tag or size; see BeginMessage/EndMessage for a checked
// variant that also lets the body be encoded in place.
func AppendAppMessage(dst []byte, tag uint16, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+len(body)))
	dst = binary.BigEndian.AppendUint16(dst, tag)
	return append(dst, body...)
}
