// Package sockopt holds octez's TCP socket options (p2p_fd.ml,
// raw_socket): a TCP user timeout of 45 s and keep-alive probes after 10 s
// of silence, every 5 s, set on outgoing sockets and on the listening
// socket; accepted sockets get nothing of their own.
//
// What octez means and what it sets differ: its C stub
// (src/lib_base/unix/socket.c, ocaml_set_tcp_keepalive) passes the
// millisecond values to TCP_KEEPIDLE and TCP_KEEPINTVL, which Linux reads
// in seconds, and passes the idle value for the interval too, so an octez
// node runs with 10,000 s for both. We set what its comments and the
// Cloudflare rationale they cite describe (10 s and 5 s, under the 45 s
// user timeout): a dead peer is found in under a minute, as intended.
package sockopt

import (
	"net"
	"strings"
	"time"
)

// octez's values (p2p_fd.ml, socket_setopt_user_timeout and
// socket_setopt_keepalive). octez also reads them from the environment
// (OCTEZ_P2P_TCP_USER_TIMEOUT, OCTEZ_P2P_TCP_KEEPALIVE); a library does
// not: the caller edits the returned configurations instead.
const (
	UserTimeout       = 45 * time.Second
	KeepAliveIdle     = 10 * time.Second
	KeepAliveInterval = 5 * time.Second
)

// KeepAlive is octez's keep-alive: on, 10 s idle, 5 s between probes, the
// system's count of probes (octez does not set it; 9 on Linux).
func KeepAlive() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: true, Idle: KeepAliveIdle, Interval: KeepAliveInterval, Count: -1}
}

// isTCP reports whether a Control callback's network is TCP (a
// ListenConfig may be used for "unix" too, which has no TCP options).
func isTCP(network string) bool { return strings.HasPrefix(network, "tcp") }
