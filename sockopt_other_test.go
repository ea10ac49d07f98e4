//go:build !linux

package p2ppool

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestOctezSocketOptions, off Linux, where Go sets the options itself
// (no TCP_USER_TIMEOUT): the listener's accepted sockets and the default
// Dialer's carry octez's keep-alive (10 s, 5 s, the system's count), and
// a loopback connection made with them works. Linux reads the values off
// the sockets (sockopt_linux_test.go).
func TestOctezSocketOptions(t *testing.T) {
	want := net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: -1}
	lc := ListenConfig()
	if lc.KeepAliveConfig != want {
		t.Errorf("ListenConfig's KeepAliveConfig %+v, want %+v", lc.KeepAliveConfig, want)
	}
	d, ok := Config{}.withDefaults().Dialer.(*net.Dialer)
	if !ok || d.KeepAliveConfig != want {
		t.Fatalf("default Dialer %#v, want a *net.Dialer with KeepAliveConfig %+v", Config{}.withDefaults().Dialer, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
