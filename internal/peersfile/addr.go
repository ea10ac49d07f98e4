package peersfile

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/p2ppool/p2ppool/internal/ipaddr"
)

// Addresses are octez's P2p_addr.encoding (src/lib_base/p2p_addr.ml): an
// Ipaddr.V6.t written with Ipaddr.V6.to_string and read with
// Ipaddr.V6.of_string_exn (ipaddr ≥ 5.3, < 6), whose transcription is
// package internal/ipaddr's.

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
	if a, ok := ipaddr.ParseV6(s); ok {
		return a, nil
	}
	if v4, ok := ipaddr.ParseV4(s); ok {
		return netip.AddrFrom16(v4.As16()), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %q", errAddr, s)
}
