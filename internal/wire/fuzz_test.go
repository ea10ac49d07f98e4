package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/require"
)

// Every fuzz target checks the same contract: no panic; failures are a
// *DecodeError wrapping exactly one sentinel; successes re-encode to a
// value that decodes identically, and to the very input bytes whenever the
// input was canonical (0x00/0xFF booleans, point texts in FormatPoint
// form). The encoder's own output is always canonical, so encode is a
// fixed point after one round.

func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	n := 0
	for _, s := range []error{ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrInvalid} {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one sentinel: %v", err)
}

// rawPointTexts returns the consecutive u32-prefixed strings at the start
// of b (test-side, independent of the Reader).
func rawPointTexts(b []byte) []string {
	var out []string
	for len(b) >= 4 {
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			break
		}
		out = append(out, string(b[4:4+n]))
		b = b[4+n:]
	}
	return out
}

// canonicalTexts reports whether every text is what FormatPoint prints.
func canonicalTexts(texts []string) bool {
	for _, s := range texts {
		p, err := ParsePoint(s)
		if err != nil || FormatPoint(p) != s {
			return false
		}
	}
	return true
}

func FuzzDecodeConnectionMessage(f *testing.F) {
	for _, v := range []string{v11Sent, v11Received, v2SentMsg, v2RecvMsg} {
		f.Add(unhex(f, v)[2:])
	}
	m := ConnectionMessage{}
	frame, _ := m.AppendFrame(nil)
	f.Add(frame[2:])
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeConnectionMessage(body)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		require.GreaterOrEqual(t, len(body), MinConnectionMessageBody)
		frame, err := m.AppendFrame(nil)
		require.NoError(t, err)
		require.Equal(t, body, frame[2:], "no non-canonical forms: always byte-exact")
		require.Equal(t, len(body), int(binary.BigEndian.Uint16(frame)))
		again, err := DecodeConnectionFrame(frame)
		require.NoError(t, err)
		require.Equal(t, m, again)
	})
}

func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range []string{"0000", "ffff", "ff00", "0100", "00", "000000"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMetadata(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		out := m.Append(nil)
		again, err := DecodeMetadata(out)
		require.NoError(t, err)
		require.Equal(t, m, again)
		if (in[0] == 0 || in[0] == 0xFF) && (in[1] == 0 || in[1] == 0xFF) {
			require.Equal(t, in, out)
		}
	})
}

func FuzzDecodeAck(f *testing.F) {
	for _, s := range []string{v7Ack, v7NackV0, v7NackDeprecatedP2P, v7NackUnknownChain, "01000500000000", "02", ""} {
		f.Add(unhex(f, s))
	}
	f.Add(Ack{Kind: AckNack, Motive: 1, Points: []netip.AddrPort{
		netip.MustParseAddrPort("[fe80::e828:209d:20e:c0ae]:375"),
		netip.MustParseAddrPort("1.2.3.4:9732"),
	}}.Append(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := DecodeAck(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		require.LessOrEqual(t, len(a.Points), MaxNackPoints)
		out := a.Append(nil)
		again, err := DecodeAck(out)
		require.NoError(t, err)
		require.Equal(t, a, again)
		require.Equal(t, out, again.Append(nil))
		canonical := true
		if a.Kind == AckNack {
			canonical = canonicalTexts(rawPointTexts(in[7:]))
		}
		if canonical {
			require.Equal(t, in, out)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(unhex(f, v8Bootstrap))
	f.Add(unhex(f, v8RejectedEmpty))
	f.Add(unhex(f, v8RejectedBadSize))
	f.Add(envelope(TagAdvertise, unhex(f, v9AdvertiseBody)))
	f.Add(envelope(TagSwapRequest, v10Swap(f, v10SwapBodyLenValid, 47)))
	f.Add(envelope(TagSwapAck, v10Swap(f, v10SwapBodyLenTooBig, 48)))
	swap := Message{Tag: TagSwapAck, Point: netip.MustParseAddrPort("[::1]:9732"), PeerID: [16]byte{1, 2, 3}}
	f.Add(swap.Append(nil))
	f.Add(unhex(f, "000000020001"))
	f.Add(unhex(f, "0000000600109caecab9"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMessage(in)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		require.LessOrEqual(t, len(m.Points), MaxAdvertisePoints)
		out := m.Append(nil)
		require.Equal(t, len(out), m.Size())
		again, err := DecodeMessage(out)
		require.NoError(t, err)
		require.Equal(t, m, again)
		require.Equal(t, out, again.Append(nil))
		canonical := true
		switch m.Tag {
		case TagAdvertise:
			canonical = canonicalTexts(rawPointTexts(in[6:]))
		case TagSwapRequest, TagSwapAck:
			canonical = canonicalTexts(rawPointTexts(in[6:])[:1])
		}
		if canonical {
			require.Equal(t, in, out)
		}
	})
}

func FuzzParsePoint(f *testing.F) {
	for _, s := range append(append([]string{}, v9Points...),
		v7NackPointText, "[::1]:80", "[1.2.3.4]:80", "[::ffff:1.2.3.4]:80", "[00000001::]:1",
		"1.2.3.4:09732", "1.2.3.4:80#"+peerIDV6, "[::4000000000000000]:1", "01.2.3.4:80",
		"[1::2:3.4.5.6]:7", "foo.com:8444", strings.Repeat("x", 47), "[fe80::1%eth0]:80") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePoint(s)
		if err != nil {
			requireDecodeError(t, err)
			require.ErrorIs(t, err, ErrInvalid)
		} else {
			require.True(t, p.Addr().IsValid())
			require.False(t, p.Addr().Is4In6())
			require.Empty(t, p.Addr().Zone())
			text := FormatPoint(p)
			require.LessOrEqual(t, len(text), MaxPointText)
			again, err := ParsePoint(text)
			require.NoError(t, err)
			require.Equal(t, p, again)
			// netip agrees on every canonical text.
			np, err := netip.ParseAddrPort(text)
			require.NoError(t, err)
			require.Equal(t, p, np)
			// Binary form: at most MaxPointSize, decodes to p.
			enc := AppendPoint(nil, p)
			require.LessOrEqual(t, len(enc), MaxPointSize)
			r := dataenc.MakeReader(enc)
			require.Equal(t, p, ReadPoint(&r))
			require.NoError(t, r.Finish("point"))
		}
		// Whatever netip accepts without a zone, octez accepts too (Ipaddr
		// is the more lenient parser), with the same value.
		if np, nerr := netip.ParseAddrPort(s); nerr == nil && np.Addr().Zone() == "" {
			require.NoError(t, err, "netip accepts %q", s)
			require.Equal(t, NormalizePoint(np), p)
		}
	})
}

// FuzzReader drives a Reader with an op script over arbitrary input and
// checks its invariants: no panic, the cursor only moves forward, returned
// slices stay within the input, and once an error is set it sticks, the
// reader is exhausted and reads return zero values.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 1, 2}, []byte{7, 0, 2})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF}, []byte{7})
	f.Add([]byte{0, 0, 0, 6, '[', ':', ':', ']', ':', '0'}, []byte{9})
	f.Fuzz(func(t *testing.T, in, ops []byte) {
		// Plain checks, not testify: the op script can be long and this
		// loop must stay cheap for the fuzzer to make progress.
		r := dataenc.MakeReader(in)
		rem := r.Remaining()
		for k, op := range ops {
			hadErr := r.Err()
			var zero bool
			var got []byte
			switch op % 12 {
			case 0:
				zero = r.Uint8() == 0
			case 1:
				zero = r.Uint16() == 0
			case 2:
				zero = r.Uint32() == 0
			case 3:
				zero = r.Uint64() == 0
			case 4:
				zero = r.Int16() == 0
			case 5:
				zero = !r.Bool()
			case 6:
				got = r.Fixed(int(op>>4) - 2)
				zero = got == nil
			case 7:
				got = r.Bytes(int(op>>4)*8 - 1)
				zero = got == nil
			case 8:
				zero = r.String(int(op)) == ""
			case 9:
				zero = ReadPoint(&r) == netip.AddrPort{}
			case 10:
				got = r.Rest()
				zero = got == nil
			case 11:
				zero = ReadNetworkVersion(&r, int(op)) == NetworkVersion{}
			}
			switch {
			case len(got) > len(in) || len(got) != cap(got):
				t.Fatalf("op %d: slice of len %d cap %d from %d bytes", k, len(got), cap(got), len(in))
			case r.Remaining() > rem:
				t.Fatalf("op %d: cursor moved backwards", k)
			case r.Err() != nil && r.Remaining() != 0:
				t.Fatalf("op %d: %d bytes remain after error", k, r.Remaining())
			case hadErr != nil && r.Err() != hadErr:
				t.Fatalf("op %d: error changed from %v to %v", k, hadErr, r.Err())
			case hadErr != nil && !zero:
				t.Fatalf("op %d: non-zero read after error", k)
			}
			rem = r.Remaining()
		}
		if err := r.Finish("fuzz"); err != nil {
			requireDecodeError(t, err)
		}
	})
}
