package peersfile

import (
	"errors"
	"fmt"
	"net/netip"
)

// Addresses are octez's P2p_addr.encoding (src/lib_base/p2p_addr.ml): an
// Ipaddr.V6.t written with Ipaddr.V6.to_string and read with
// Ipaddr.V6.of_string_exn (ipaddr ≥ 5.3, < 6).

var errAddr = errors.New("invalid address")

// formatAddr writes a as Ipaddr.V6.to_string does: RFC 5952 (lowercase,
// no leading zeros, the leftmost longest run of two or more zero groups
// as "::"), with IPv4-mapped addresses as "::ffff:1.2.3.4". netip's
// String does exactly this for 16-byte addresses; 4-byte ones are mapped
// first, because octez only knows IPv6.
func formatAddr(a netip.Addr) (string, error) {
	if !a.IsValid() {
		return "", fmt.Errorf("%w: no address", errAddr)
	}
	if a.Zone() != "" {
		return "", fmt.Errorf("%w: %v has a zone, which octez cannot store", errAddr, a)
	}
	return canonicalAddr(a).String(), nil
}

// canonicalAddr returns a as the 16-byte address octez stores (IPv4 as
// IPv4-mapped IPv6).
func canonicalAddr(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// parseAddr reads an address as octez does, with one leniency: a plain
// IPv4 dotted quad, which octez refuses, is accepted as the IPv4-mapped
// address octez would have written for it (a hand-edited file is more
// likely to hold "1.2.3.4" than anything else octez refuses). The result
// is always a 16-byte address.
func parseAddr(s string) (netip.Addr, error) {
	if a, ok := parseIpaddrV6(s); ok {
		return a, nil
	}
	if v4, ok := parseDottedQuad(s, new(int)); ok && v4.pos == len(s) {
		return netip.AddrFrom16(netip.AddrFrom4(v4.b).As16()), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %q", errAddr, s)
}

type quad struct {
	b   [4]byte
	pos int
}

// parseDottedQuad is ipaddr's V4.parse_dotted_quad from *i: four decimal
// octets separated by dots, no leading zero before another digit.
func parseDottedQuad(s string, i *int) (quad, bool) {
	var q quad
	for k := range 4 {
		if k > 0 {
			if *i >= len(s) || s[*i] != '.' {
				return q, false
			}
			*i++
		}
		// reject_octal
		if *i+1 < len(s) && s[*i] == '0' && isDigit(s[*i+1]) {
			return q, false
		}
		v, ok := parseInt(s, i, 10)
		if !ok || v < 0 || v > 0xff {
			return q, false
		}
		q.b[k] = byte(v)
	}
	q.pos = *i
	return q, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseInt is ipaddr's parse_int: one or more digits of base from *i, as
// many as there are. The value wraps around like an OCaml int (63 bits),
// so a long enough run of digits can come out negative, which
// parseIpaddrV6 then treats as the end of the address, as ipaddr does.
func parseInt(s string, i *int, base int) (int64, bool) {
	if *i >= len(s) {
		return 0, false
	}
	if d := hexVal(s[*i]); d < 0 || d >= base {
		return 0, false
	}
	var v int64
	for *i < len(s) {
		d := hexVal(s[*i])
		if d < 0 || d >= base {
			break
		}
		v = int64(uint64(v)*uint64(base)+uint64(d)) << 1 >> 1
		*i++
	}
	return v, true
}

// parseIpaddrV6 is ipaddr's V6.of_string_exn (lib/ipaddr.ml, parse_ipv6,
// unchanged from 5.3 to 5.6): 16-bit groups of any number of hex digits,
// at most one "::", an optional trailing dotted quad, and optionally the
// whole thing in square brackets.
func parseIpaddrV6(s string) (netip.Addr, bool) {
	i := 0
	n := len(s)
	if n < 1 {
		return netip.Addr{}, false
	}
	bracket := s[0] == '['
	if bracket {
		i++
	}
	if n < i+2 {
		return netip.Addr{}, false
	}
	// Groups in reverse order; -1 stands for the "::".
	var acc []int64
	compressed := false
	if s[i] == ':' {
		i++
		if s[i] != ':' {
			return netip.Addr{}, false
		}
		compressed = true
		i++
		acc = append(acc, -1)
	}
	nb := len(acc)
loop:
	for nb < 8 && i < n {
		pos := i
		x, ok := parseInt(s, &i, 16)
		if !ok || x < 0 {
			break
		}
		if nb == 7 {
			acc = append(acc, x)
			break
		}
		switch {
		case i < n && s[i] == ':':
			i++
			if i >= n {
				return netip.Addr{}, false
			}
			switch {
			case s[i] == ':':
				if compressed {
					i-- // a second "::": stop before it
					acc = append(acc, x)
					break loop
				}
				compressed = true
				i++
				acc = append(acc, x, -1)
				nb += 2
			case hexVal(s[i]) >= 0:
				acc = append(acc, x)
				nb++
			default:
				return netip.Addr{}, false
			}
		case i < n && s[i] == '.':
			i = pos
			q, ok := parseDottedQuad(s, &i)
			if !ok {
				return netip.Addr{}, false
			}
			acc = append(acc, int64(q.b[0])<<8|int64(q.b[1]), int64(q.b[2])<<8|int64(q.b[3]))
			break loop
		default:
			acc = append(acc, x)
			break loop
		}
	}
	if len(acc) > 8 || len(acc) == 0 {
		return netip.Addr{}, false
	}
	missing := 0
	if compressed {
		missing = 8 - (len(acc) - 1)
	} else if len(acc) != 8 {
		return netip.Addr{}, false
	}
	var groups [8]int64
	k := 0
	for _, x := range acc {
		if x == -1 {
			k += missing
			continue
		}
		if x > 0xffff || k >= 8 {
			return netip.Addr{}, false
		}
		groups[k] = x
		k++
	}
	if bracket {
		if i >= n || s[i] != ']' {
			return netip.Addr{}, false
		}
		i++
	}
	if i != n {
		return netip.Addr{}, false
	}
	var b [16]byte
	for j, g := range groups {
		b[2*j] = byte(g >> 8)
		b[2*j+1] = byte(g)
	}
	return netip.AddrFrom16(b), true
}
