//go:build !unix

package p2ppool

import (
	"errors"
	"net"
	"syscall"
)

// tcpControl cannot set socket options portably here; shrinkBuffers
// does, once connected (see tcpBuffer for what that costs).
var tcpControl = (func(string, string, syscall.RawConn) error)(nil)

func shrinkBuffers(c net.Conn) error {
	tc := c.(*net.TCPConn)
	return errors.Join(tc.SetReadBuffer(tcpBuffer), tc.SetWriteBuffer(tcpBuffer))
}
