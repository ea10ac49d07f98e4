package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/p2ppool/p2ppool/internal/ipaddr"
)

// Point is octez P2p_point.Id: an IP address and a port. IPv4 addresses
// are always held unmapped (Is4), which is how octez prints the IPv4-mapped
// IPv6 addresses it stores internally, and never carry a zone (octez has no
// zones).
type Point = netip.AddrPort

const (
	// MaxPointText is the longest point text octez accepts on the wire:
	// "[" + 8 groups of 4 hex digits + 7 colons + "]" + ":" + 5 port digits.
	MaxPointText = 47
	// MaxPointSize is the largest encoded point, length prefix included
	// (octez wraps the point encoding in check_size 51).
	MaxPointSize = 4 + MaxPointText
	// minPointSize is the smallest encoded point, "[::]:0" with its prefix;
	// decoders size preallocations by it.
	minPointSize = 4 + len("[::]:0")
)

// ParsePoint parses a point text exactly as octez's P2p_point.Id.of_string
// does without a default port (the Point_parser lexer, then Ipaddr):
//
//   - the form is <addr>:<port>[#<peer id>]; the port is required, is one
//     or more decimal digits (leading zeros allowed) and must be 0..65535;
//   - <addr> is an IP literal; IPv6 must be bracketed ("[::1]"); a
//     bracketed IPv4 ("[1.2.3.4]") is also accepted; no zone, no host
//     name;
//   - IP literals follow the Ipaddr library: IPv4 octets are decimal
//     without leading zeros ("01" is refused as octal); IPv6 groups are
//     hexadecimal of any case and any number of digits as long as the
//     value fits 16 bits, "::" compression and a trailing dotted quad are
//     allowed;
//   - the optional suffix "#<peer id>" must be a valid base58check peer id
//     ("idt…"); it is checked and then ignored.
//
// IPv4-mapped IPv6 addresses ("[::ffff:1.2.3.4]") are unmapped to IPv4,
// matching octez, which stores IPv4 as mapped and prints it dotted.
//
// appendPointText of the result is the canonical text. Inputs that parse but
// differ from that text (leading zeros in the port or in IPv6 groups,
// upper-case hex, non-RFC 5952 compression, bracketed or mapped IPv4, a
// peer id suffix) are non-canonical: they decode to the same value but do
// not re-encode byte for byte, exactly as in octez.
//
// Errors wrap ErrInvalid. ParsePoint itself does not bound the length; the
// binary decoders refuse texts longer than MaxPointText first.
func ParsePoint(s string) (netip.AddrPort, error) {
	p, reason := parsePoint(s)
	if reason != "" {
		return netip.AddrPort{}, &DecodeError{What: "point " + quoteShort(s) + ": " + reason, Err: ErrInvalid}
	}
	return p, nil
}

// AppendPoint appends p's binary encoding: its text (appendPointText) as a
// u32-prefixed string (at most MaxPointSize bytes).
func AppendPoint(dst []byte, p netip.AddrPort) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendPointText(dst, p)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// NormalizePoint returns p as octez holds a point and as the pool keys its
// tables: the address unmapped (octez prints its IPv4-mapped addresses
// dotted) and without zone (octez has none). An invalid address stays
// invalid. It is the one point normalization: the pool's tables and this
// package's encoders both use it.
func NormalizePoint(p netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(p.Addr().Unmap().WithZone(""), p.Port())
}

// encodedPoint is the value p decodes back to after encoding: NormalizePoint
// of it, with the invalid zero Addr, which octez cannot express, written as
// the IPv6 unspecified address "[::]" so that encoders never fail and their
// output always parses.
func encodedPoint(p netip.AddrPort) netip.AddrPort {
	p = NormalizePoint(p)
	if !p.Addr().IsValid() {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), p.Port())
	}
	return p
}

func appendPointText(dst []byte, p netip.AddrPort) []byte {
	a := encodedPoint(p).Addr()
	if a.Is4() {
		dst = a.AppendTo(dst)
	} else {
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(p.Port()), 10)
}

// ReadPoint reads an encoded point (u32-prefixed text of at most
// MaxPointText bytes, parsed as by ParsePoint). A longer prefix fails with
// ErrTooLarge and an unparsable text with ErrInvalid, via r's sticky error;
// parsing does not allocate.
func ReadPoint(r *dataenc.Reader) netip.AddrPort {
	b := r.Bytes(MaxPointText)
	if r.Err() != nil {
		return netip.AddrPort{}
	}
	p, reason := parsePoint(b)
	if reason != "" {
		r.Failf(ErrInvalid, "point "+quoteShort(string(b))+": "+reason)
		return netip.AddrPort{}
	}
	return p
}

// quoteShort quotes s for an error message, cut so that hostile input
// cannot blow up log lines.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

// text lets the parsers run on a string (ParsePoint) or directly on the
// input bytes (ReadPoint) without a conversion that would allocate.
type text interface{ ~string | ~[]byte }

// parsePoint implements ParsePoint; it returns a non-empty reason on
// failure. The lexer part mirrors octez's point_parser.mll rule
//
//	addr (':' port)? ('#' peer_id)? eof
//	addr    = ipv4 | '[' [0-9a-fA-F:.]+ ']' | [a-zA-Z0-9.-]+ | '_'?
//	port    = [0-9]+
//	peer_id = [a-zA-Z0-9]+
//
// (ipv4 is a subset of the domain class, so the address is simply the run
// before the first ':' or '#'), then the same checks octez applies: port
// range, b58check peer id, brackets removed, Ipaddr.of_string_exn.
func parsePoint[T text](s T) (netip.AddrPort, string) {
	n := len(s)
	i := 0
	var addr T
	if n > 0 && s[0] == '[' {
		j := 1
		for j < n && isIPv6LexChar(s[j]) {
			j++
		}
		if j == 1 || j >= n || s[j] != ']' {
			return netip.AddrPort{}, "malformed bracketed address"
		}
		addr = s[1:j] // octez strips the brackets before Ipaddr
		i = j + 1
	} else {
		for i < n && isDomainChar(s[i]) {
			i++
		}
		addr = s[:i]
		if i < n && s[i] == '_' && i == 0 {
			// The lexer's "empty" alternative: "_" alone is an address
			// token (that Ipaddr then refuses).
			i++
			addr = s[:i]
		}
	}
	port := -1
	if i < n && s[i] == ':' {
		i++
		start := i
		v := 0
		for i < n && s[i] >= '0' && s[i] <= '9' {
			if v <= 65535 {
				v = v*10 + int(s[i]-'0')
			}
			i++
		}
		if i == start {
			return netip.AddrPort{}, "malformed port"
		}
		port = v
	}
	idStart := -1
	if i < n && s[i] == '#' {
		i++
		idStart = i
		for i < n && isAlnum(s[i]) {
			i++
		}
		if i == idStart {
			return netip.AddrPort{}, "malformed peer id"
		}
	}
	if i != n {
		return netip.AddrPort{}, "expected <addr>:<port>[#<peer_id>]"
	}
	if idStart >= 0 && !validPeerIDB58(s[idStart:]) {
		return netip.AddrPort{}, "peer id is not valid b58check"
	}
	if port < 0 {
		return netip.AddrPort{}, "no port"
	}
	if port > 65535 {
		return netip.AddrPort{}, "port not in range [0-65535]"
	}
	ip, ok := ipaddr.Parse(addr)
	if !ok {
		return netip.AddrPort{}, "not an IP address"
	}
	return netip.AddrPortFrom(ip, uint16(port)), ""
}

func isIPv6LexChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// Peer id base58check (octez P2p_peer_id.of_b58check_opt): the decoded
// bytes must be the 2-byte prefix 0x99 0x67, the 16-byte hash and the first
// 4 bytes of SHA256(SHA256(prefix‖hash)).
const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var b58Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b58Alphabet); i++ {
		t[b58Alphabet[i]] = int8(i)
	}
	return t
}()

func validPeerIDB58[T text](s T) bool {
	// Each leading '1' decodes to a 0x00 byte, which cannot be the 0x99
	// prefix; without them the number's big-endian bytes must be exactly
	// the 22 decoded bytes.
	if len(s) == 0 || s[0] == '1' {
		return false
	}
	var num [22]byte
	for i := 0; i < len(s); i++ {
		d := b58Index[s[i]]
		if d < 0 {
			return false
		}
		carry := uint32(d)
		for j := len(num) - 1; j >= 0; j-- {
			carry += uint32(num[j]) * 58
			num[j] = byte(carry)
			carry >>= 8
		}
		if carry != 0 {
			return false
		}
	}
	if num[0] != 0x99 || num[1] != 0x67 {
		return false
	}
	sum := sha256.Sum256(num[:18])
	sum = sha256.Sum256(sum[:])
	return [4]byte(num[18:22]) == [4]byte(sum[:4])
}
