//go:build !race

// This file's tests run 1,500 nodes: seconds in a plain run, which
// .ci/run makes, but 80 s under the race detector, which adds nothing
// to what they check (a count in the summary), so that build leaves them
// out.

package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every node's time to its target is recorded, however many nodes: the
// clock of each starts before any listener does (serve). It once started
// node by node while the earlier nodes' loops already ran, and a node
// that a connection brought to its target before its clock started was
// reported as never reaching it (at 2,000 nodes, 1,668 of them).
func TestSwarmEveryNodeTimed(t *testing.T) {
	code, _, stderr := runSwarm(t, context.Background(), "-net", "mem", "-n", "1500", "-duration", "120s", "-until-target", "-rate", "0", "-json")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "every node reached 4 connections")
}
