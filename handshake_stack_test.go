//go:build !race && !p2ppool_lockcheck

// Not under the race detector nor the lock checker: both make the frames
// larger; the bound is the production build's.

package p2ppool

import (
	"context"
	"os"
	"os/exec"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handshakeStack is the stack a handshake must fit in: the goroutine
// stacks of 4 KB that the runtime gives a connection's reader, so that
// an incoming handshake's goroutine does not grow by copying its stack
// to 8 KB (it did, at a cost of several microseconds per connection).
const handshakeStack = 4096

// TestHandshakeFitsInFourKB: the first half of an incoming handshake
// (admission of the address, connection messages, keys, metadata), with
// the channel key computed (a key cache miss) and taken from the cache
// (a hit), runs with every goroutine's stack bounded by handshakeStack
// (debug.SetMaxStack). A goroutine that needs more kills the process,
// so the handshakes run in a child process of the test binary.
func TestHandshakeFitsInFourKB(t *testing.T) {
	if os.Getenv("P2PPOOL_STACK_CHILD") != "" {
		handshakesInSmallStacks(t)
		return
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for _, name := range networks {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHandshakeFitsInFourKB$", "-test.v")
		cmd.Env = append(os.Environ(), "P2PPOOL_STACK_CHILD="+name)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: a goroutine needed more than %d bytes of stack:\n%s", name, handshakeStack, out)
		require.Contains(t, string(out), "handshakes done", name)
	}
}

// handshakesInSmallStacks is the child's side: a server and two clients;
// the first client's key is cached at both ends by a first connection,
// made and torn down before the bound is set.
func handshakesInSmallStacks(t *testing.T) {
	n := newNetwork(os.Getenv("P2PPOOL_STACK_CHILD"))
	server, warm, cold := newNode(t, n, nil), newNode(t, n, nil), newNode(t, n, nil)
	ctx := context.Background()
	c, err := warm.Connect(ctx, server.point)
	require.NoError(t, err)
	sc := waitConn(t, server, warm.Config().Identity.PeerID)
	require.NoError(t, c.Disconnect(ctx, false))
	<-sc.Done()

	// The bound holds from the dial until the server's side of the
	// handshake has exchanged connection messages and metadata (what
	// follows, admission and the tables, allocates on the first sight of
	// a peer, and an allocation that takes a new span runs deep).
	unbound := func() { debug.SetMaxStack(1 << 30) }
	testHookAuthenticated = unbound
	defer func() { testHookAuthenticated = func() {} }()
	for _, client := range []*node{cold, warm} { // cold computes the keys, warm finds them cached
		debug.SetMaxStack(handshakeStack)
		_, err = client.Connect(ctx, server.point)
		unbound()
		require.NoError(t, err)
		waitConn(t, server, client.Config().Identity.PeerID)
	}
	t.Log("handshakes done")
}

// TestGrowStackGrowsOnce: growStack grows a fresh goroutine's stack
// (the runtime copies it, and a local moves), and the stack it leaves
// holds a second call without growing again.
func TestGrowStackGrowsOnce(t *testing.T) {
	moves := make(chan [2]bool)
	go func() {
		var local int
		addr := func() uintptr { return uintptr(unsafe.Pointer(&local)) }
		a := addr()
		growStack()
		b := addr()
		growStack()
		moves <- [2]bool{a != b, b != addr()}
	}()
	m := <-moves
	assert.True(t, m[0], "the first call grows the stack")
	assert.False(t, m[1], "the second call fits")
}
