//go:build !amd64 || !gc || purego

package crypto

import "testing"

// implementations lists the code paths of this build: only the generic one.
func implementations(*testing.T) []string { return []string{"generic"} }

func useImplementation(*testing.T, string) {}
