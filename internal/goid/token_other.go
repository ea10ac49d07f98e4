//go:build !amd64 && !arm64

package goid

// fromG says Token reads the runtime's g; here it does not.
const fromG = false

// Token returns a value, never 0, that identifies the calling goroutine
// among the goroutines alive at the same moment: it stays the same for the
// goroutine's whole life, and no other live goroutine has it. On amd64
// and arm64 a token may be reused once its goroutine has exited, so a
// registry keyed by tokens must remove a goroutine's entry before the
// goroutine exits.
//
// Here it is the goroutine's id from runtime.Stack (2-4 µs and an
// allocation; amd64 and arm64 read the runtime's g instead).
func Token() uintptr { return stackID() }
