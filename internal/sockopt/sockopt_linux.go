//go:build linux

package sockopt

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenerInherits reports whether a socket accepted from a listener made
// with ListenControl inherits its keep-alive settings, so that no
// setsockopt is needed per accepted connection. On Linux it does (the
// accepted socket is a clone of the listening one); TCP_USER_TIMEOUT is not
// inherited, as in octez, which sets nothing on accepted sockets.
const ListenerInherits = true

// DialControl is a net.Dialer's Control: TCP_USER_TIMEOUT on the new
// socket before it connects (keep-alive is the Dialer's KeepAliveConfig,
// which Go sets portably).
func DialControl(network, _ string, c syscall.RawConn) error {
	if !isTCP(network) {
		return nil
	}
	return c.Control(func(fd uintptr) {
		// Not mandatory, as in octez (it logs the failure at Info and
		// goes on): a kernel or sandbox without the option still dials.
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(UserTimeout.Milliseconds()))
	})
}

// ListenControl is a net.ListenConfig's Control: octez's options on the
// listening socket, before bind, where accepted sockets inherit the
// keep-alive ones.
func ListenControl(network, _ string, c syscall.RawConn) error {
	if !isTCP(network) {
		return nil
	}
	return c.Control(func(fd uintptr) {
		// Not mandatory, as in DialControl.
		s := int(fd)
		_ = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(UserTimeout.Milliseconds()))
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) == nil {
			_ = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(KeepAliveIdle.Seconds()))
			_ = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(KeepAliveInterval.Seconds()))
		}
	})
}
