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

	"github.com/stretchr/testify/require"
)

// handshakeStack is the stack a handshake must fit in: the goroutine
// stacks of 4 KB that the runtime gives a connection's reader, so that
// an incoming handshake's goroutine does not grow by copying its stack
// to 8 KB (it did, at a cost of several microseconds per connection).
const handshakeStack = 4096

// TestHandshakeFitsInFourKB: both ends of a handshake, with the channel
// key computed (a key cache miss) and taken from the cache (a hit), run
// with every goroutine's stack bounded by handshakeStack
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestHandshakeFitsInFourKB$", "-test.v")
	cmd.Env = append(os.Environ(), "P2PPOOL_STACK_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "a goroutine needed more than %d bytes of stack:\n%s", handshakeStack, out)
	require.Contains(t, string(out), "handshakes done")
}

// handshakesInSmallStacks is the child's side: a server and two clients;
// the first client's key is cached at both ends by a first connection,
// made and torn down before the bound is set.
func handshakesInSmallStacks(t *testing.T) {
	n := newNetwork("tcp")
	server, warm, cold := newNode(t, n, nil), newNode(t, n, nil), newNode(t, n, nil)
	ctx := context.Background()
	c, err := warm.Connect(ctx, server.point)
	require.NoError(t, err)
	sc := waitConn(t, server, warm.Config().Identity.PeerID)
	require.NoError(t, c.Disconnect(ctx, false))
	<-sc.Done()

	debug.SetMaxStack(handshakeStack)
	_, err = cold.Connect(ctx, server.point) // computes the keys
	require.NoError(t, err)
	_, err = warm.Connect(ctx, server.point) // finds them cached
	require.NoError(t, err)
	waitConn(t, server, cold.Config().Identity.PeerID)
	waitConn(t, server, warm.Config().Identity.PeerID)
	debug.SetMaxStack(1 << 30)
	t.Log("handshakes done")
}
