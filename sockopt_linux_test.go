//go:build linux

package p2ppool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sockopts reads the TCP options octez sets (and Go's TCP_NODELAY) from a
// socket.
type sockopts struct {
	keepAlive, idle, interval, count, userTimeoutMs, noDelay int
}

func readSockopts(t *testing.T, sc interface {
	SyscallConn() (syscall.RawConn, error)
}, listening bool) sockopts {
	t.Helper()
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var o sockopts
	var errs []error
	get := func(fd, level, opt int, name string) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return v
	}
	if err := rc.Control(func(fd uintptr) {
		s := int(fd)
		o = sockopts{
			keepAlive: get(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE"),
			idle:      get(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, "TCP_KEEPIDLE"),
			interval:  get(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, "TCP_KEEPINTVL"),
			count:     get(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, "TCP_KEEPCNT"),
		}
		v, err := unix.GetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		switch {
		case listening && errors.Is(err, unix.EOPNOTSUPP):
			// This machine's Linux (6.18) answers EOPNOTSUPP for a
			// listening socket's TCP_USER_TIMEOUT (and refuses to set
			// it once listening: ListenControl sets it before listen).
			o.userTimeoutMs = -1
		case err != nil:
			errs = append(errs, fmt.Errorf("TCP_USER_TIMEOUT: %w", err))
		default:
			o.userTimeoutMs = v
		}
		o.noDelay = get(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, "TCP_NODELAY")
	}); err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		t.Fatalf("getsockopt %v", err)
	}
	return o
}

// systemKeepAliveProbes is the system's count of keep-alive probes, which
// octez leaves alone.
func systemKeepAliveProbes(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_probes")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOctezSocketOptions reads the options of both ends of a loopback
// connection made with ListenConfig and NewDialer: octez's (p2p_fd.ml
// raw_socket) on the dialled socket and on the listening one; the
// accepted socket inherits the keep-alive settings from the listener and,
// as in octez, not the user timeout.
func TestOctezSocketOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if lc := ListenConfig(); lc.KeepAlive >= 0 || lc.KeepAliveConfig.Enable {
		// Inherited, not set again: Go would spend four setsockopt calls
		// on each accepted socket.
		t.Errorf("ListenConfig sets keep-alive on each accepted socket (KeepAlive %v, KeepAliveConfig %+v)", lc.KeepAlive, lc.KeepAliveConfig)
	}
	ln, err := ListenConfig().Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	probes := systemKeepAliveProbes(t)
	octez := sockopts{keepAlive: 1, idle: 10, interval: 5, count: probes, userTimeoutMs: 45000}

	want := octez
	got := readSockopts(t, ln.(*net.TCPListener), true)
	if got.userTimeoutMs == -1 {
		want.userTimeoutMs = -1 // not readable here (see readSockopts)
	}
	if got != want {
		t.Errorf("listening socket: got %+v, want %+v", got, want)
	}

	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()
	dc, err := NewDialer().DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	a := <-acc
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.c.Close()

	want = octez
	want.noDelay = 1
	if got := readSockopts(t, dc.(*net.TCPConn), false); got != want {
		t.Errorf("dialled socket: got %+v, want %+v", got, want)
	}
	want.userTimeoutMs = 0
	if got := readSockopts(t, a.c.(*net.TCPConn), false); got != want {
		t.Errorf("accepted socket: got %+v, want %+v", got, want)
	}
}

// TestDefaultDialerIsNewDialer: a Config without a Dialer dials with
// octez's options, which TestOctezSocketOptions reads off a socket.
func TestDefaultDialerIsNewDialer(t *testing.T) {
	d, ok := Config{}.withDefaults().Dialer.(*net.Dialer)
	if !ok {
		t.Fatalf("default Dialer is %T, want *net.Dialer", Config{}.withDefaults().Dialer)
	}
	want := NewDialer()
	if d.KeepAliveConfig != want.KeepAliveConfig || d.KeepAlive != want.KeepAlive || d.Control == nil {
		t.Fatalf("default Dialer: KeepAliveConfig %+v KeepAlive %v Control set %v, want NewDialer's %+v %v true",
			d.KeepAliveConfig, d.KeepAlive, d.Control != nil, want.KeepAliveConfig, want.KeepAlive)
	}
}
