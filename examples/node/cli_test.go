package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
)

// -peer takes HOST:PORT#PEER_ID, as octez and the crawler's -seed write
// points: refused before with "port must be in 1..65535".
func TestRunPeerWithPeerID(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "b.json"), "-listen", "127.0.0.1:0", "-pow", "0", "-status", "0")
	a := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "a.json"), "-listen", "127.0.0.1:0", "-pow", "0", "-status", "0",
		"-peer", b.addr+"#"+b.peerID)
	a.stdout.waitLine(t, `^connected `+b.peerID+` `+regexp.QuoteMeta(b.addr)+` out$`)
	cancel()
	assert.Equal(t, exitOK, a.wait(t), "%s", a.stderr)
	assert.Equal(t, exitOK, b.wait(t), "%s", b.stderr)
}

// A -peers-file in a missing folder fails at start, naming the file
// given (it failed at shutdown, naming ".peers.json.tmp-…"), before an
// identity is made.
func TestRunPeersFileMissingFolder(t *testing.T) {
	dir := t.TempDir()
	peers := filepath.Join(dir, "no-such-dir", "peers.json")
	id := filepath.Join(dir, "id.json")
	code, _, stderr := runCmd(t, context.Background(), "run", "-identity", id, "-listen", "127.0.0.1:0", "-pow", "0", "-peers-file", peers)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "node run: -peers-file "+peers+": folder "+filepath.Dir(peers)+" does not exist\n", stderr)
	_, err := os.Stat(id)
	assert.True(t, os.IsNotExist(err), "checked before the identity is made")

	// An identity to create in a missing folder, likewise.
	missingID := filepath.Join(dir, "nope", "id.json")
	code, _, stderr = runCmd(t, context.Background(), "identity", "-o", missingID, "-pow", "0")
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "node identity: -o "+missingID+": folder "+filepath.Dir(missingID)+" does not exist\n", stderr)
}

// Identity files are written 0600; one that others can read loads with a
// warning.
func TestRunIdentityPermWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	path := filepath.Join(t.TempDir(), "id.json")
	code, _, stderr := runCmd(t, context.Background(), "identity", "-o", path, "-pow", "0")
	require.Equal(t, exitOK, code, stderr)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	ctx, cancel := context.WithCancel(context.Background())
	n := startNode(t, ctx, nil, "-identity", path, "-listen", "127.0.0.1:0", "-pow", "0")
	cancel()
	require.Equal(t, exitOK, n.wait(t))
	assert.NotContains(t, n.stderr.String(), "WARN")

	require.NoError(t, os.Chmod(path, 0o644))
	ctx, cancel = context.WithCancel(context.Background())
	n = startNode(t, ctx, nil, "-identity", path, "-listen", "127.0.0.1:0", "-pow", "0")
	cancel()
	require.Equal(t, exitOK, n.wait(t))
	n.stderr.waitLine(t, `level=WARN msg="the identity file holds the secret key but others can read it" file=`+regexp.QuoteMeta(path)+`.*chmod 600`)

	code, stdout, stderr := runCmd(t, context.Background(), "identity", "-check", path, "-pow", "0")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, n.peerID+"\n", stdout)
	assert.Contains(t, stderr, "node identity: warning: ")
	assert.Contains(t, stderr, "chmod 600 "+path)
}

// Identity generation into a pipe (here a buffer) writes no \r and
// prints odds, not a share of the expected attempts that passes 100%.
func TestIdentityProgressNoCarriageReturnInPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.json")
	code, _, stderr := runCmd(t, context.Background(), "identity", "-o", path, "-pow", "8")
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stderr, "\r")
	assert.NotContains(t, stderr, "of expected")
}

// -log-format json -log-level debug: the library's lines reach stderr
// as JSON, and the refusal of a peer of another chain (no common
// version) names its remote address and the reason.
func TestRunLogFlags(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "b.json"), "-listen", "127.0.0.1:0", "-pow", "0",
		"-chain", "CHAIN_B", "-log-format", "json", "-log-level", "debug", "-status", "0")
	a := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "a.json"), "-listen", "127.0.0.1:0", "-pow", "0",
		"-chain", "CHAIN_A", "-peer", b.addr, "-status", "0")
	line := b.stderr.waitLine(t, `^\{.*"msg":"incoming connection refused".*\}$`)[0]
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
	assert.Equal(t, "DEBUG", rec["level"])
	assert.Equal(t, "no common version", rec["reason"])
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, rec["remote"])
	cancel()
	a.wait(t)
	assert.Equal(t, exitOK, b.wait(t))
	// At the default level (info) none of the Debug lines show.
	assert.NotContains(t, a.stderr.String(), "level=DEBUG")
}

// The status line every -status: connections by direction, rates and
// refusals by reason; the summary when the node stops; -stats the full
// Stats then.
func TestRunStatusLine(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// b is stopped on its own, first: stopped with a, it could see a's
	// connection end before it prints its summary.
	ctxB, cancelB := context.WithCancel(ctx)
	defer cancelB()
	b := startNode(t, ctxB, nil, "-identity", filepath.Join(dir, "b.json"), "-listen", "127.0.0.1:0", "-pow", "0",
		"-status", "50ms", "-stats")
	b.stderr.waitLine(t, `^status: 0 connections \(0 in, 0 out\), in \d+B/s, out \d+B/s, refused none$`)
	a := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "a.json"), "-listen", "127.0.0.1:0", "-pow", "0",
		"-peer", b.addr, "-status", "0")
	// (b may have refused itself too, dialling the point a gave it: octez
	// learns its own point the same way.)
	b.stderr.waitLine(t, `^status: 1 connection \(1 in, 0 out\), in \S+/s, out \S+/s, refused `)
	// A peer of another chain is refused: the line counts it by reason.
	// (Maybe more than once: c's maintenance may dial b while its -peer
	// dial is under way, and that dial, refused as pending, retries.)
	c := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "c.json"), "-listen", "127.0.0.1:0", "-pow", "0",
		"-chain", "OTHER", "-peer", b.addr, "-status", "0")
	b.stderr.waitLine(t, `^status: 1 connection \(1 in, 0 out\), .*, refused \d+ \(.*no common version [1-9]\d*.*\)$`)
	cancelB()
	assert.Equal(t, exitOK, b.wait(t))
	cancel()
	for _, n := range []*runningNode{a, c} {
		assert.Equal(t, exitOK, n.wait(t))
	}
	b.stderr.waitLine(t, `^node run: stopped after \d+s: 1 connection, sent \d\S*B, received \d\S*B \(wire\), refused \d+ \(.*no common version [1-9]\d*.*\)$`)
	b.stderr.waitLine(t, `^node run: stats: conns=1 .* refused:.* "no common version"=[1-9]`)
	assert.NotContains(t, a.stderr.String(), "status:", "-status 0 prints none")
}

// statusLine says "refused none" without refusals, and sums the reasons.
func TestRefusalsText(t *testing.T) {
	assert.Equal(t, "refused none", refusals(nil))
	assert.True(t, strings.HasPrefix(summary(statsForTest(), 0, 2), "node run: stopped after 0s: 2 connections, sent 1.50kB, received 999B (wire), refused 3 ("), summary(statsForTest(), 0, 2))
}

func statsForTest() (s p2ppool.Stats) {
	s.Traffic.Flow.TotalSent, s.Traffic.Flow.TotalRecv = 1500, 999
	s.Connections.Refused = map[p2ppool.RefusalReason]uint64{p2ppool.RefusedBanned: 1, p2ppool.RefusedNoCommonVersion: 2}
	return s
}
