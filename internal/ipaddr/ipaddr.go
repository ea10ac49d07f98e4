// Package ipaddr ports the IP literal parser of the OCaml Ipaddr library
// (mirage/ocaml-ipaddr 5.x, lib/ipaddr.ml, unchanged from 5.3 to 5.6),
// which octez uses both to turn a point text into an address (P2p_point.Id,
// through Ipaddr.of_string_exn) and to read the addresses of its peers file
// (P2p_addr.encoding in src/lib_base/p2p_addr.ml, through
// Ipaddr.V6.of_string_exn). netip.ParseAddr is stricter in a few corners
// (it refuses IPv6 groups of more than 4 digits such as "00001"), and a
// peer must accept and refuse exactly what octez does, so the algorithm is
// kept step for step, including OCaml's 63-bit wrapping integer arithmetic
// (a digit run long enough to overflow wraps instead of failing).
//
// It is the one transcription of that parser: internal/wire (points on the
// wire) and internal/peersfile (the peers file) both call it. The parsers
// run on a string or directly on input bytes without a conversion that
// would allocate.
package ipaddr

import "net/netip"

// Text is what the parsers read: a string, or input bytes.
type Text interface{ ~string | ~[]byte }

// ocamlIntMask reduces to OCaml's 63-bit native int range; a reduced value
// with bit 62 set is a negative OCaml int.
const (
	ocamlIntMask = 1<<63 - 1
	ocamlIntNeg  = 1 << 62
)

// digitValue is Ipaddr's int_of_char: hex digits of either case, else -1.
func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseOCamlInt is Ipaddr's parse_int: at least one digit of base, then as
// many as follow, accumulated with OCaml int wrap-around. It reports false
// (Parse_error) without moving *pi if no digit is at *pi.
func parseOCamlInt[T Text](base int, s T, pi *int) (uint64, bool) {
	i := *pi
	if i >= len(s) {
		return 0, false
	}
	if k := digitValue(s[i]); k < 0 || k >= base {
		return 0, false
	}
	var v uint64
	for i < len(s) {
		k := digitValue(s[i])
		if k < 0 || k >= base {
			break
		}
		v = (v*uint64(base) + uint64(k)) & ocamlIntMask
		i++
	}
	*pi = i
	return v, true
}

// Parse is Ipaddr.of_string_exn on the address of a point text, whose
// brackets octez's point lexer has already removed: try a dotted quad, and
// only if that raises, IPv6; then the whole string must have been consumed
// (a dotted quad followed by garbage does not fall back to IPv6).
// IPv4-mapped results are unmapped. A leading '[' is refused: the lexer
// never lets one through.
func Parse[T Text](s T) (netip.Addr, bool) {
	if len(s) == 0 || s[0] == '[' {
		return netip.Addr{}, false
	}
	i := 0
	if v4, ok := parseDottedQuad(s, &i); ok {
		if i != len(s) {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4(v4), true
	}
	i = 0
	v6, ok := parseIPv6(s, &i)
	if !ok || i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(v6).Unmap(), true
}

// ParseV6 is Ipaddr.V6.of_string_exn (V6.of_string_raw, then the end of
// input): an IPv6 address, optionally in square brackets, with at most one
// "::" and an optional trailing dotted quad. The result is the 16-byte
// address, IPv4-mapped ones kept mapped, as octez's P2p_addr holds them.
func ParseV6[T Text](s T) (netip.Addr, bool) {
	i := 0
	if len(s) < 1 {
		return netip.Addr{}, false
	}
	bracket := s[0] == '['
	if bracket {
		i++
	}
	v6, ok := parseIPv6(s, &i)
	if !ok {
		return netip.Addr{}, false
	}
	if bracket {
		if i >= len(s) || s[i] != ']' {
			return netip.Addr{}, false
		}
		i++
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(v6), true
}

// ParseV4 is Ipaddr.V4.of_string_exn: a dotted quad (see parseDottedQuad)
// and nothing after it.
func ParseV4[T Text](s T) (netip.Addr, bool) {
	i := 0
	v4, ok := parseDottedQuad(s, &i)
	if !ok || i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(v4), true
}

// parseDottedQuad is Ipaddr.V4.parse_dotted_quad: four decimal numbers
// separated by '.', each refused if it starts with '0' followed by a digit
// (octal notation, CVE-2021-29921), then each checked to be 0..255.
func parseDottedQuad[T Text](s T, pi *int) ([4]byte, bool) {
	var out [4]byte
	var vals [4]uint64
	i := *pi
	for k := range vals {
		if k > 0 {
			if i >= len(s) || s[i] != '.' {
				return out, false
			}
			i++
		}
		if i+1 < len(s) && s[i] == '0' && s[i+1] >= '0' && s[i+1] <= '9' {
			return out, false
		}
		v, ok := parseOCamlInt(10, s, &i)
		if !ok {
			return out, false
		}
		vals[k] = v
	}
	for k, v := range vals {
		if v > 0xff { // also catches wrapped negatives
			return out, false
		}
		out[k] = byte(v)
	}
	*pi = i
	return out, true
}

// parseIPv6 is Ipaddr.V6.parse_ipv6 for an unbracketed input. Components
// are collected in order (octez builds the list reversed; the logic is the
// same), with -1 marking the "::" position. Up to 8 entries, counting the
// marker, can be collected: the loop stops at 8.
func parseIPv6[T Text](s T, pi *int) ([16]byte, bool) {
	var out [16]byte
	n := len(s)
	i := *pi
	if n < i+2 {
		return out, false
	}
	var acc [8]int
	na := 0
	compressed := false
	if s[i] == ':' {
		i++
		if s[i] != ':' {
			return out, false
		}
		compressed = true
		i++
		acc[na] = -1
		na++
	}
	for na < 8 && i < n {
		pos := i
		x, ok := parseOCamlInt(16, s, &i)
		if !ok || x&ocamlIntNeg != 0 {
			// No digit here (or a wrapped, negative value): stop and let
			// the final checks decide.
			break
		}
		if na == 7 {
			acc[na] = clampComponent(x)
			na++
			break
		}
		if i < n && s[i] == ':' {
			i++
			if i >= n {
				return out, false
			}
			if s[i] == ':' {
				if compressed {
					// A second "::": octez stops before it, so the end
					// check fails.
					i--
					acc[na] = clampComponent(x)
					na++
					break
				}
				compressed = true
				i++
				if na+2 > len(acc) {
					return out, false
				}
				acc[na] = clampComponent(x)
				acc[na+1] = -1
				na += 2
				continue
			}
			if digitValue(s[i]) < 0 {
				return out, false
			}
			acc[na] = clampComponent(x)
			na++
			continue
		}
		if i < n && s[i] == '.' {
			i = pos
			v4, ok := parseDottedQuad(s, &i)
			if !ok || na+2 > len(acc) {
				return out, false
			}
			acc[na] = int(v4[0])<<8 | int(v4[1])
			acc[na+1] = int(v4[2])<<8 | int(v4[3])
			na += 2
			break
		}
		acc[na] = clampComponent(x)
		na++
		break
	}
	if na == 0 {
		return out, false
	}
	missing := 0
	if compressed {
		missing = 8 - (na - 1)
	} else if na != 8 {
		return out, false
	}
	idx := 7
	for j := na - 1; j >= 0; j-- {
		x := acc[j]
		if x == -1 {
			idx -= missing
			continue
		}
		if x > 0xffff || idx < 0 {
			return out, false
		}
		out[2*idx] = byte(x >> 8)
		out[2*idx+1] = byte(x)
		idx--
	}
	*pi = i
	return out, true
}

// clampComponent keeps a parsed group in int range while preserving
// whether it fits 16 bits (the only thing the final check looks at).
func clampComponent(x uint64) int {
	if x > 0xffff {
		return 0x10000
	}
	return int(x)
}
