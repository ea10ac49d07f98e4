//go:build !linux

package sockopt

import "syscall"

// ListenerInherits reports whether accepted sockets inherit the
// listener's keep-alive settings. Off Linux we do not rely on it: Go sets
// KeepAlive on each accepted socket instead.
const ListenerInherits = false

// DialControl is nil off Linux: TCP_USER_TIMEOUT is a Linux option (octez
// skips it where it is missing, as we do).
var DialControl func(network, address string, c syscall.RawConn) error

// ListenControl is nil off Linux (see ListenerInherits).
var ListenControl func(network, address string, c syscall.RawConn) error
