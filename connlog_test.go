package p2ppool

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDisconnectedLogAllocatesNothingWhenOff: the "disconnected" record,
// written at every connection's end, costs no allocation when the logger
// drops debug records (the default, a discard handler, and a handler at
// info level), and is written when it does not.
func TestDisconnectedLogAllocatesNothingWhenOff(t *testing.T) {
	if lockCheck {
		t.Skip("the lock checker (-tags p2ppool_lockcheck) records every lock taken, which allocates")
	}
	c := &conn{info: ConnInfo[any]{
		ID:         12345,
		Peer:       PeerID{1, 2, 3},
		Point:      netip.MustParseAddrPort("192.0.2.1:9732"),
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9732},
	}}
	cause := &DisconnectError{Reason: ReasonRemoteDisconnect, Remote: true}
	var out bytes.Buffer
	for name, log := range map[string]*slog.Logger{
		"discard": slog.New(slog.DiscardHandler),
		"info":    slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})),
	} {
		p := &core{log: log}
		if n := testing.AllocsPerRun(100, func() { p.logDisconnected(c, cause) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
	assert.Zero(t, out.Len(), "a debug record written at info level")

	p := &core{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	p.logDisconnected(c, cause)
	assert.Contains(t, out.String(), "msg=disconnected")
	assert.Contains(t, out.String(), "point=192.0.2.1:9732")
	assert.Contains(t, out.String(), "conn=12345")
}
