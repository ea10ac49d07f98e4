//go:build amd64 || arm64

package goid

// fromG says Token reads the runtime's g: no traceback, no allocation.
const fromG = true

// Token returns a value, never 0, that identifies the calling goroutine
// among the goroutines alive at the same moment: it stays the same for the
// goroutine's whole life (stack growth included), and no other live
// goroutine has it. Once a goroutine has exited its token may be given to
// a new one (the runtime reuses the records of dead goroutines), so a
// registry keyed by tokens must remove a goroutine's entry before the
// goroutine exits, as one keyed by runtime.Stack's ids had better do
// anyway.
//
// Here it is the address of the runtime's g, read by token_$GOARCH.s.
func Token() uintptr
