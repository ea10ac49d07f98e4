package wire

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePointAccepts(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical text; equal to in when in is canonical
	}{
		{"127.0.0.1:9832", "127.0.0.1:9832"},
		{"0.0.0.0:0", "0.0.0.0:0"},
		{"255.255.255.255:65535", "255.255.255.255:65535"},
		{"10.0.100.1:9732", "10.0.100.1:9732"},
		{"[::1]:80", "[::1]:80"},
		{"[::]:0", "[::]:0"},
		{"[fe80::e828:209d:20e:c0ae]:375", "[fe80::e828:209d:20e:c0ae]:375"},
		{"[2001:db8::1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"},
		{"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{"[0:2:3:4:5:6:7:8]:9", "[0:2:3:4:5:6:7:8]:9"},
		{"[::102:304]:5", "[::102:304]:5"},

		// Non-canonical spellings octez accepts.
		{"[FE80::E828:209D:20E:C0AE]:375", "[fe80::e828:209d:20e:c0ae]:375"},
		{"1.2.3.4:09732", "1.2.3.4:9732"},
		{"1.2.3.4:0000000000000000000000000080", "1.2.3.4:80"},
		{"[1.2.3.4]:80", "1.2.3.4:80"},                 // Ipaddr tries IPv4 first, brackets or not
		{"[::ffff:1.2.3.4]:80", "1.2.3.4:80"},          // IPv4-mapped is IPv4
		{"[::ffff:102:304]:80", "1.2.3.4:80"},          // same, in hex
		{"[0:0:0:0:0:0:0:1]:1", "[::1]:1"},             // uncompressed
		{"[0000:0000::0001]:1", "[::1]:1"},             // leading zeros
		{"[00000001::]:1", "[1::]:1"},                  // Ipaddr has no 4-digit limit
		{"[1:2:3:4:5:6:7::]:9", "[1:2:3:4:5:6:7:0]:9"}, // "::" for one group
		{"[::2:3:4:5:6:7:8]:9", "[0:2:3:4:5:6:7:8]:9"},
		{"[1::2:3:4:5:6:7]:9", "[1:0:2:3:4:5:6:7]:9"},
		{"[1::2:3.4.5.6]:7", "[1::2:304:506]:7"},
		{"[::1.2.3.4]:5", "[::102:304]:5"},
		{"[1:2:3:4:5:6:1.2.3.4]:5", "[1:2:3:4:5:6:102:304]:5"},
		{"[1:0:0:1::]:1", "[1:0:0:1::]:1"},
		{"[1:0:0:1:0:0:0:1]:1", "[1:0:0:1::1]:1"},
		{"1.2.3.4:80#" + peerIDV6, "1.2.3.4:80"},
		{"[::1]:80#" + peerIDZero, "[::1]:80"},
		{"1.2.3.4:1#" + peerIDAllFF, "1.2.3.4:1"},
		{"1.2.3.4:1#" + peerIDV5, "1.2.3.4:1"},
		{"1.2.3.4:1#" + peerIDOctezOK, "1.2.3.4:1"},
		// OCaml's 63-bit ints wrap: a group of 2^62 is a negative number,
		// which Ipaddr's loop takes for "no group" after consuming it, so
		// octez reads this as "::".
		{"[::4000000000000000]:1", "[::]:1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePoint(tt.in)
			require.NoError(t, err)
			assert.True(t, p.Addr().IsValid())
			assert.False(t, p.Addr().Is4In6(), "IPv4 is held unmapped")
			assert.Equal(t, tt.want, FormatPoint(p))

			again, err := ParsePoint(FormatPoint(p))
			require.NoError(t, err)
			assert.Equal(t, p, again, "canonical text parses back to the same point")
			assert.LessOrEqual(t, len(FormatPoint(p)), MaxPointText)

			// Through the binary encoding too; canonical text is byte-exact.
			enc := dataenc.AppendString(nil, tt.in)
			r := dataenc.MakeReader(enc)
			got := ReadPoint(&r)
			require.NoError(t, r.Finish("point"))
			assert.Equal(t, p, got)
			if tt.in == tt.want {
				assert.Equal(t, enc, AppendPoint(nil, p))
			}
		})
	}
}

func TestParsePointRejects(t *testing.T) {
	badID := peerIDV6[:len(peerIDV6)-1] + "q" // checksum broken
	tests := []string{
		"",
		"1.2.3.4",       // no port (octez has no default here)
		"1.2.3.4:",      // empty port
		":80",           // empty address
		"_:80",          // the lexer's "empty" address
		"localhost:80",  // host names are not IP literals
		"foo.com:8444",  // idem (valid for the lexer, not for Ipaddr)
		"::1:80",        // IPv6 must be bracketed
		"[::1]",         // no port
		"[::1]:",        // empty port
		"[::1]80",       // no colon
		"[::1]:65536",   // port range
		"1.2.3.4:65536", // port range
		"1.2.3.4:99999999999999999999999",
		"1.2.3.4:-1",
		"1.2.3.4:+80",
		"1.2.3.4:0x50",
		"1.2.3.4: 80",
		" 1.2.3.4:80",
		"1.2.3.4 :80",
		"01.2.3.4:80", // octal refused (CVE-2021-29921)
		"1.2.3.00:80", // idem
		"1.2.3.256:80",
		"1.2.3:80",
		"1.2.3.4.5:80",
		"1.2.3.4x:80",
		"1.2.3.4444:80",
		"[fe80::1%eth0]:80", // no zones
		"[[::1]]:80",
		"[]:80",
		"[::1]x:80",
		"[::g]:80",
		"[1:2:3:4:5:6:7:8:9]:1",
		"[1::2::3]:1",
		"[1:]:1",
		"[:1]:1",
		"[:::]:1",
		"[12345::]:1", // group over 16 bits
		"[::1.2.3.04]:1",
		"[1.2.3.4.5]:1",
		"[::ffff:1.2.3.4:5]:1",
		"[1:2:3:4:5:6:7:1.2.3.4]:1",
		"[1:2::3:4:5:6:7:8]:1",
		"1.2.3.4:80#",             // empty peer id
		"1.2.3.4:80#notanid",      // not b58check
		"1.2.3.4:80#" + badID,     // bad checksum
		"1.2.3.4:80#0OIl",         // not in the b58 alphabet
		"1.2.3.4:80#1" + peerIDV6, // a leading '1' decodes to a zero byte
		"1.2.3.4#" + peerIDV6 + ":80",
		"1.2.3.4:80#" + peerIDV6 + "#" + peerIDV6,
		"1.2.3.4:80\x00",
		"1.2.3.4:8\u00e90",
		strings.Repeat("x", 47), // V10's length-valid point
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			_, err := ParsePoint(in)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), "dataenc: decode point")

			if len(in) <= MaxPointText {
				r := dataenc.MakeReader(dataenc.AppendString(nil, in))
				ReadPoint(&r)
				require.ErrorIs(t, r.Finish("point"), ErrInvalid)
			}
		})
	}
}

func TestReadPointSizeLimit(t *testing.T) {
	longest := "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
	require.Len(t, longest, MaxPointText)
	r := dataenc.MakeReader(dataenc.AppendString(nil, longest))
	ReadPoint(&r)
	require.NoError(t, r.Finish("point"))

	// A 48-byte text is refused on its length alone, valid or not: octez
	// wraps the point in check_size 51.
	for _, s := range []string{strings.Repeat("x", 48), "[0000:0000:0000:0000:0000:0000:0000:0001]:000080"} {
		r.Reset(dataenc.AppendString(nil, s))
		ReadPoint(&r)
		require.ErrorIs(t, r.Finish("point"), ErrTooLarge)
	}
}

func TestFormatPoint(t *testing.T) {
	mapped := netip.AddrFrom16(netip.MustParseAddr("1.2.3.4").As16())
	require.True(t, mapped.Is4In6())
	tests := []struct {
		p    netip.AddrPort
		want string
	}{
		{netip.MustParseAddrPort("1.2.3.4:9732"), "1.2.3.4:9732"},
		{netip.AddrPortFrom(mapped, 80), "1.2.3.4:80"},
		{netip.MustParseAddrPort("[2001:db8:0:0:1:0:0:1]:1"), "[2001:db8::1:0:0:1]:1"},
		{netip.MustParseAddrPort("[2001:0:0:1:0:0:0:1]:1"), "[2001:0:0:1::1]:1"},
		{netip.MustParseAddrPort("[2001:db8::]:1"), "[2001:db8::]:1"},
		{netip.MustParseAddrPort("[fe80::1%eth0]:1"), "[fe80::1]:1"}, // octez has no zones
		{netip.AddrPort{}, "[::]:0"},                                 // invalid address
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FormatPoint(tt.p))
		enc := AppendPoint(nil, tt.p)
		r := dataenc.MakeReader(enc)
		got := ReadPoint(&r)
		require.NoError(t, r.Finish("point"))
		assert.Equal(t, encodedPoint(tt.p), got, "decode(encode(p)) == encodedPoint(p)")
		assert.Equal(t, tt.want, FormatPoint(got))
	}
}

func TestValidPeerID(t *testing.T) {
	for _, id := range []string{peerIDV5, peerIDV6, peerIDZero, peerIDAllFF, peerIDOctezOK} {
		assert.True(t, validPeerIDB58(id), id)
		assert.True(t, validPeerIDB58([]byte(id)), id)
	}
	for _, id := range []string{"", "id", peerIDV6 + "1", peerIDV6[1:], "1" + peerIDV6, strings.Repeat("z", 40)} {
		assert.False(t, validPeerIDB58(id), id)
	}
}

func TestReadPointDoesNotAllocate(t *testing.T) {
	enc := dataenc.AppendString(nil, "[fe80::e828:209d:20e:c0ae]:375")
	allocs := testing.AllocsPerRun(100, func() {
		r := dataenc.MakeReader(enc)
		ReadPoint(&r)
		if r.Err() != nil {
			panic(r.Err())
		}
	})
	assert.Zero(t, allocs)
}

// FormatPoint returns the text octez prints for p: "a.b.c.d:port" for IPv4
// (and IPv4-mapped IPv6), "[addr]:port" with RFC 5952 formatting for IPv6
// (netip's and Ipaddr's formats agree). See encodedPoint for how zones and
// the invalid zero address are treated.
func FormatPoint(p netip.AddrPort) string {
	var buf [MaxPointText]byte
	return string(appendPointText(buf[:0], p))
}
