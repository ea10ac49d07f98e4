//go:build !amd64 || !gc || purego

package crypto

import "golang.org/x/crypto/poly1305"

// polyScratch is empty: there are no vector lanes to keep tables for.
type polyScratch struct{}

// polySum writes the Poly1305 tag of msg under key.
func polySum(out *[TagSize]byte, msg []byte, key *[32]byte, _ *polyScratch) {
	poly1305.Sum(out, msg, key)
}
