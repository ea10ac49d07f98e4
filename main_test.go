package p2ppool

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// pool, connection and scripted peer the tests start must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
