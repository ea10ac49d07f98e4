//go:build !unix

package cli

import "os"

// StatsSignal returns a channel that receives SIGUSR1; there is none
// here, so it never receives.
func StatsSignal() (<-chan os.Signal, func()) {
	return make(chan os.Signal), func() {}
}
