//go:build unix

package cli

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGUSR1 reaches the channel instead of killing the process.
func TestStatsSignal(t *testing.T) {
	c, stop := StatsSignal()
	defer stop()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	select {
	case s := <-c:
		assert.Equal(t, syscall.SIGUSR1, s)
	case <-time.After(10 * time.Second):
		t.Fatal("no SIGUSR1")
	}
}
