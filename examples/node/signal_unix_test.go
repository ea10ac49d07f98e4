//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGUSR1 prints the pool's full Stats (Stats.String) and the node goes
// on; the signal goes to this process, where the running node has taken
// it over (signal.Notify) before it printed "listening on".
func TestRunStatsOnSIGUSR1(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := startNode(t, ctx, nil, "-identity", filepath.Join(t.TempDir(), "id.json"), "-listen", "127.0.0.1:0", "-pow", "0", "-status", "0")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	n.stderr.waitLine(t, `^node run: stats: conns=0 accepted=0 handshakes=0 points=\d+ peers=\d+ sent=0/0B .*dials=`)
	cancel()
	assert.Equal(t, exitOK, n.wait(t))
}
