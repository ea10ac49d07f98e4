#include "textflag.h"

// func Token() uintptr
//
// The runtime keeps the current g in thread-local storage on amd64 (and
// in R14 for ABIInternal code; this ABI0 function must not rely on that).
TEXT ·Token(SB), NOSPLIT, $0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
