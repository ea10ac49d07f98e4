// Package goid tells goroutines apart cheaply: Token identifies the
// calling goroutine, for registries that must recognise their own
// goroutines when they call back in (the pool's re-entrancy registry,
// reentry.go).
//
// The only public way to name a goroutine is the "goroutine N" header of
// runtime.Stack, which costs a traceback of the calling goroutine's stack
// and a heap allocation: 2-4 µs, paid by every goroutine the pool starts
// and every call that enters it. With about ten of them per connection
// (both ends), it was 13% of the CPU of a connect and handshake. On amd64
// and arm64 Token instead reads the address of the runtime's record of
// the goroutine (its g), which the runtime keeps in a register or in
// thread-local storage for exactly this purpose, in one instruction.
// Elsewhere it falls back to runtime.Stack.
package goid

import "runtime"

// stackID returns the calling goroutine's id from the header of its stack
// trace ("goroutine 18 [running]:"). It is Token's fallback, and the
// reference Token is checked against in the tests.
func stackID() uintptr {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	var id uintptr
	for _, c := range buf[min(len(prefix), n):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uintptr(c-'0')
	}
	return id
}
