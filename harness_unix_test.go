//go:build unix

package p2ppool

import (
	"errors"
	"net"
	"syscall"
)

// tcpControl gives a tcp network socket small kernel buffers before it
// connects or listens (accepted sockets inherit them); see tcpBuffer.
func tcpControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = errors.Join(
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, tcpBuffer),
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, tcpBuffer))
	})
	return errors.Join(err, serr)
}

// shrinkBuffers has nothing left to do: tcpControl did it.
func shrinkBuffers(net.Conn) error { return nil }
