package p2ppool

// growStack gives the calling goroutine a 4 KB stack while it is
// shallow. A connection's reader and writer goroutines and an incoming
// handshake's all outgrow the runtime's first 2 KB (TestHandshakeFitsInFourKB
// bounds them at 4 KB): left alone, each grew at its first message or
// step of the handshake, deep in the cipher or the buffer pool, and the
// runtime copied and adjusted a dozen frames, five times per connection
// (5% of the CPU of a connect). Growing at the start adjusts two. It
// costs no memory: those goroutines reach 4 KB in any case.
//
// growStackFrame is over the room a fresh 2 KB stack leaves a shallow
// call (2 KB less the runtime's guard and the caller's frames), and small
// enough that 4 KB hold it: the runtime doubles the stack until the frame
// fits.
//
//go:noinline
func growStack() byte {
	var pad [growStackFrame]byte
	// Indexed by a variable, so that the compiler keeps the array.
	pad[growStackIndex] = 1
	return pad[len(pad)-1-growStackIndex]
}

const growStackFrame = 1536

// growStackIndex is always 0; it is a variable only so that growStack's
// frame is not optimised away. Never written: goroutines read it
// concurrently.
var growStackIndex = 0
