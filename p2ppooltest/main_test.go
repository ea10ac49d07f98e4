package p2ppooltest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if a goroutine outlives them: every blocked
// Read, Write, Accept and dial must end when its connection or listener
// closes.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
