//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// StatsSignal returns a channel that receives SIGUSR1, by which a user
// asks a running command for its full statistics (kill -USR1 PID), and
// the function that stops the delivery. Where there is no SIGUSR1 the
// channel never receives.
func StatsSignal() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	return c, func() { signal.Stop(c) }
}
