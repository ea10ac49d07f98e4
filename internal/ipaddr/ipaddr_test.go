package ipaddr

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The cases are the corners where Ipaddr (lib/ipaddr.ml, parse_ipv6,
// parse_dotted_quad, parse_int) and netip.ParseAddr disagree, plus the
// plain forms.
func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for refused
	}{
		{"1.2.3.4", "1.2.3.4"},
		{"01.2.3.4", ""},         // reject_octal
		{"0.0.0.0", "0.0.0.0"},   // a lone 0 is not octal
		{"256.1.1.1", ""},        // octet range
		{"1.2.3.4x", ""},         // a dotted quad with garbage does not fall back to IPv6
		{"::", "::"},             // compressed only
		{"::1", "::1"},           // loopback
		{"00001::", "1::"},       // groups of any number of digits, value ≤ 0xffff
		{"10000::", ""},          // value > 0xffff
		{"ABCD::ef", "abcd::ef"}, // either case
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		{"1:2:3:4:5:6:7", ""},                          // too few groups without "::"
		{"1::2::3", ""},                                // a second "::"
		{"::ffff:1.2.3.4", "1.2.3.4"},                  // mapped: unmapped by Parse
		{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"}, // trailing dotted quad
		{"[::1]", ""},                                  // Parse: the point lexer removed the brackets
		{"", ""},
		{":1", ""},
		{"1:", ""},
		{"fffffffffffffffffffffffffffffff::", ""}, // wraps to a negative OCaml int: stops, then fails the end check
	}
	for _, tt := range tests {
		got, ok := Parse(tt.in)
		if tt.want == "" {
			assert.False(t, ok, "%q parsed as %v", tt.in, got)
			continue
		}
		if assert.True(t, ok, "%q refused", tt.in) {
			assert.Equal(t, netip.MustParseAddr(tt.want), got, "%q", tt.in)
		}
		b, ok := Parse([]byte(tt.in))
		assert.True(t, ok && b == got, "%q as bytes", tt.in)
	}
}

func TestParseV6(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"::1", "::1"},
		{"[::1]", "::1"},                     // V6.of_string_raw takes brackets
		{"[::1", ""},                         // unclosed
		{"[::1]x", ""},                       // trailing input
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"}, // kept mapped, as P2p_addr holds it
		{"1.2.3.4", ""},                      // a dotted quad is not V6
		{"[]", ""},
	}
	for _, tt := range tests {
		got, ok := ParseV6(tt.in)
		if tt.want == "" {
			assert.False(t, ok, "%q parsed as %v", tt.in, got)
			continue
		}
		if assert.True(t, ok, "%q refused", tt.in) {
			assert.Equal(t, netip.MustParseAddr(tt.want), got, "%q", tt.in)
			assert.True(t, got.Is6())
		}
	}
	_, ok := ParseV4("1.2.3.4.")
	assert.False(t, ok)
	a, ok := ParseV4("10.0.0.255")
	assert.True(t, ok)
	assert.Equal(t, netip.MustParseAddr("10.0.0.255"), a)
}

// FuzzParse: the parsers never panic, and what they accept, printed
// canonically, parses back to the same address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"::", "[::1]", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1.2.3.4", "00001::", "::1::", "1:2:3:4:5:6:1.2.3.4", "[", "ffffffffffffffffffff::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, ok := Parse(s); ok {
			if b, ok := Parse(a.String()); !ok || a != b {
				t.Fatalf("Parse(%q) = %v, which reparses as %v, %v", s, a, b, ok)
			}
		}
		if a, ok := ParseV6(s); ok {
			if b, ok := ParseV6(a.String()); !ok || a != b {
				t.Fatalf("ParseV6(%q) = %v, which reparses as %v, %v", s, a, b, ok)
			}
		}
		if a, ok := ParseV4(s); ok {
			if a.String() != s {
				t.Fatalf("ParseV4(%q) = %v: a dotted quad without leading zeros prints as itself", s, a)
			}
		}
	})
}
