package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/p2ppool/p2ppool/internal/wire"
)

// ErrInvalidPoint: a point text does not parse.
var ErrInvalidPoint = errors.New("p2ppool: invalid point")

// PointSpec is a point as an operator writes it: "host:port", where host
// is an IPv4 literal, a bracketed IPv6 literal ("[::1]:9732") or a DNS
// name, optionally followed by "#" and the peer id expected there
// (octez's P2p_point.Id.of_string, which takes only IP literals, plus
// names). Resolve turns it into points.
type PointSpec struct {
	// Host is an IP literal (without brackets) or a DNS name.
	Host string
	Port uint16
	// Peer is the peer id expected at the point; zero for any.
	Peer PeerID
}

// ParsePoint parses a point text (see PointSpec). IP literals follow
// octez's rules exactly (no zone; IPv4 without leading zeros); a name
// must be a valid DNS name. Errors wrap ErrInvalidPoint.
func ParsePoint(s string) (PointSpec, error) {
	bad := func(why string) (PointSpec, error) {
		return PointSpec{}, fmt.Errorf("%w %q: %s", ErrInvalidPoint, s, why)
	}
	text, id, hasID := strings.Cut(s, "#")
	var spec PointSpec
	if hasID {
		peer, err := ParsePeerID(id)
		if err != nil {
			return bad("peer id: " + err.Error())
		}
		spec.Peer = peer
	}
	if ap, err := wire.ParsePoint(text); err == nil {
		spec.Host, spec.Port = ap.Addr().String(), ap.Port()
		return spec, nil
	}
	host, port, ok := cutPort(text)
	switch {
	case !ok:
		return bad("want host:port")
	case strings.HasPrefix(host, "["), isIPLike(host):
		return bad("not an IP literal as octez reads them")
	case !validHostname(host):
		return bad("not a host name")
	}
	spec.Host, spec.Port = host, port
	return spec, nil
}

// cutPort splits "host:port" at its last colon, the port being decimal.
func cutPort(s string) (string, uint16, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		return "", 0, false
	}
	return s[:i], uint16(p), true
}

// isIPLike reports text that can only be meant as an IP literal: all
// digits and dots, or containing a colon.
func isIPLike(h string) bool {
	return strings.Contains(h, ":") || strings.Trim(h, "0123456789.") == ""
}

// validHostname checks the syntax of a DNS name (RFC 1123 labels).
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// String is the text ParsePoint reads back: IPv6 bracketed, the peer id
// after "#" when set.
func (ps PointSpec) String() string {
	host := ps.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	s := host + ":" + strconv.Itoa(int(ps.Port))
	if !ps.Peer.IsZero() {
		s += "#" + ps.Peer.String()
	}
	return s
}

// Resolve returns the points of ps: itself for an IP literal, every
// address of the name otherwise (IPv4 unmapped, as the pool keeps
// points), looked up with r (net.DefaultResolver if nil).
func (ps PointSpec) Resolve(ctx context.Context, r *net.Resolver) ([]netip.AddrPort, error) {
	if a, err := netip.ParseAddr(ps.Host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), ps.Port)}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", ps.Host)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: resolving %s: %w", ps.Host, err)
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a.Unmap(), ps.Port))
	}
	return out, nil
}

// connectPoint is Pool.ConnectPoint.
func (p *core) connectPoint(ctx context.Context, point string) (*conn, error) {
	spec, pts, err := resolvePoint(ctx, point)
	if err != nil {
		return nil, err
	}
	for _, pt := range pts {
		if !spec.Peer.IsZero() {
			Points{p}.SetExpectedPeerID(pt, spec.Peer)
		}
		var c *conn
		if c, err = p.connect(ctx, pt); err == nil {
			return c, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrPoolClosed) {
			break
		}
	}
	return nil, err
}

// TrustNamed trusts every address the point text names (see ParsePoint):
// a name is resolved now, and each of its addresses is trusted (Trust)
// and, with a "#peer_id" suffix, given that expected peer id, as octez
// does with the names of its --peer and bootstrap options at start. It
// returns the points trusted; a name that does not resolve is an error
// and trusts nothing.
func (v Points) TrustNamed(ctx context.Context, point string) ([]netip.AddrPort, error) {
	if v.p.life.isClosed() {
		return nil, ErrPoolClosed
	}
	spec, pts, err := resolvePoint(ctx, point)
	if err != nil {
		return nil, err
	}
	for _, pt := range pts {
		if err := v.Trust(pt); err != nil {
			return nil, err
		}
		if !spec.Peer.IsZero() {
			if err := v.SetExpectedPeerID(pt, spec.Peer); err != nil {
				return nil, err
			}
		}
	}
	return pts, nil
}

// resolvePoint parses a point text and resolves it with the system
// resolver.
func resolvePoint(ctx context.Context, point string) (PointSpec, []netip.AddrPort, error) {
	spec, err := ParsePoint(point)
	if err != nil {
		return spec, nil, err
	}
	pts, err := spec.Resolve(ctx, nil)
	return spec, pts, err
}
