package tezos

import (
	"testing"

	"go.uber.org/goleak"
)

// The pool test starts pools; every goroutine must be gone at the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
