package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait for an output line.
const waitTimeout = 10 * time.Second

// lineBuffer is an io.Writer safe for concurrent use whose content tests
// can wait on, line by line, without sleeping.
type lineBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every Write
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits until a complete line matches the regular expression
// pattern and returns its submatches.
func (b *lineBuffer) waitLine(t *testing.T, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		text, changed := b.buf.String(), b.changed
		b.mu.Unlock()
		if i := strings.LastIndexByte(text, '\n'); i >= 0 {
			for line := range strings.SplitSeq(text[:i], "\n") {
				if m := re.FindStringSubmatch(line); m != nil {
					return m
				}
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no line matching %q within %v; output so far:\n%s", pattern, waitTimeout, text)
		}
	}
}

// runningNode is a "node run" started in-process.
type runningNode struct {
	stdout, stderr *lineBuffer
	code           chan int      // the exit code, once
	done           chan struct{} // closed when run has returned
	addr, peerID   string
}

// startNode starts "node run args..." with in as its stdin (nil: the
// test binary's, which go test makes /dev/null) and waits for its
// "listening on" line. The node stops when ctx ends.
func startNode(t *testing.T, ctx context.Context, in io.Reader, args ...string) *runningNode {
	t.Helper()
	n := &runningNode{stdout: newLineBuffer(), stderr: newLineBuffer(), code: make(chan int, 1), done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if in == nil {
			n.code <- run(ctx, append([]string{"run"}, args...), n.stdout, n.stderr)
		} else {
			n.code <- runNodeWithInput(ctx, args, in, n.stdout, n.stderr)
		}
	}()
	// A failed test still cancels ctx (deferred); wait for the node so
	// that goleak sees no goroutine of it.
	t.Cleanup(func() {
		select {
		case <-n.done:
		case <-time.After(waitTimeout):
			t.Error("node did not stop")
		}
	})
	m := n.stdout.waitLine(t, `^listening on (\S+) as (id\S+)$`)
	n.addr, n.peerID = m[1], m[2]
	return n
}

// wait waits for the node to return and gives its exit code.
func (n *runningNode) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-n.code:
		return code
	case <-time.After(waitTimeout):
		t.Fatalf("node did not stop; stderr:\n%s", n.stderr)
		return -1
	}
}

func TestRunEchoBetweenTwoNodes(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// B echoes; its stdin is go test's /dev/null, which ends at once and
	// must not stop it.
	b := startNode(t, ctx, nil, "-identity", filepath.Join(dir, "b.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "P2PPOOL_TEST", "-echo")
	stdinR, stdinW := io.Pipe()
	a := startNode(t, ctx, stdinR, "-identity", filepath.Join(dir, "a.json"), "-listen", "127.0.0.1:0",
		"-pow", "0", "-chain", "P2PPOOL_TEST", "-peer", b.addr)

	a.stdout.waitLine(t, `^connected `+b.peerID+` `+regexp.QuoteMeta(b.addr)+` out$`)
	_, aPort, err := net.SplitHostPort(a.addr)
	require.NoError(t, err)
	b.stdout.waitLine(t, `^connected `+a.peerID+` 127\.0\.0\.1:`+aPort+` in$`) // announced port

	_, err = io.WriteString(stdinW, "hello, octez\n\n")
	require.NoError(t, err)
	b.stdout.waitLine(t, `^text from `+a.peerID+`: hello, octez$`)
	a.stdout.waitLine(t, `^text from `+b.peerID+`: hello, octez$`) // the echo
	a.stderr.waitLine(t, `sent to 1 connection`)

	start := time.Now()
	cancel()
	assert.Equal(t, exitOK, a.wait(t), "a stderr:\n%s", a.stderr)
	assert.Equal(t, exitOK, b.wait(t), "b stderr:\n%s", b.stderr)
	assert.Less(t, time.Since(start), shutdownTimeout, "graceful stop is prompt")

	// Both ends report the end of the connection, whoever closed first.
	a.stdout.waitLine(t, `^disconnected `+b.peerID+` \S+ out: (pool closed|peer said disconnect|closed by peer)$`)
	b.stdout.waitLine(t, `^disconnected `+a.peerID+` \S+ in: (pool closed|peer said disconnect|closed by peer)$`)
	// The echo happened once: A does not echo.
	assert.Equal(t, 1, strings.Count(b.stdout.String(), "text from"), b.stdout)
	assert.Contains(t, a.stderr.String(), "Stored the new identity")
	stdinW.Close()
}

func TestRunReusesIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := startNode(t, ctx, strings.NewReader(""), "-identity", path, "-listen", "127.0.0.1:0", "-pow", "4")
	cancel()
	require.Equal(t, exitOK, n.wait(t), n.stderr)
	first := n.peerID
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	n = startNode(t, ctx, strings.NewReader(""), "-identity", path, "-listen", "127.0.0.1:0", "-pow", "4")
	cancel()
	require.Equal(t, exitOK, n.wait(t), n.stderr)
	assert.Equal(t, first, n.peerID, "the file is loaded, not replaced")
	assert.NotContains(t, n.stderr.String(), "Generating")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// The identity must meet -pow (2^-36 chance of passing by luck).
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "-identity", path, "-listen", "127.0.0.1:0", "-pow", "40"}, &stdout, &stderr)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr.String(), "insufficient proof of work")
	assert.Empty(t, stdout.String())
}

func TestRunRetriesRefusedPeer(t *testing.T) {
	// A port with nothing listening: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := startNode(t, ctx, strings.NewReader(""), "-identity", filepath.Join(t.TempDir(), "id.json"),
		"-listen", "127.0.0.1:0", "-pow", "0", "-peer", dead)
	n.stderr.waitLine(t, regexp.QuoteMeta(dead)+`: .*connection failed.* \(attempt 1/5, retrying in 250ms\)$`)
	n.stderr.waitLine(t, `\(attempt 2/5, retrying in 500ms\)$`)
	cancel() // interrupts the backoff
	assert.Equal(t, exitOK, n.wait(t))
	assert.NotContains(t, n.stdout.String(), "connected")
}

func TestRunUsageErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "id.json")
	for _, args := range [][]string{
		{"run"},                           // nothing
		{"run", "-identity", f},           // no -listen
		{"run", "-listen", "127.0.0.1:0"}, // no -identity
		{"run", "-identity", f, "-listen", "127.0.0.1:0", "-peer", "nowhere"},     // no port
		{"run", "-identity", f, "-listen", "127.0.0.1:0", "-peer", "127.0.0.1:0"}, // port 0
		{"run", "-identity", f, "-listen", "127.0.0.1:0", "-pow", "300"},          // out of range
		{"run", "-identity", f, "-listen", "127.0.0.1:0", "-chain", ""},           // empty chain
		{"run", "-identity", f, "-listen", "127.0.0.1:0", "extra"},                // stray argument
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		assert.Equal(t, exitUsage, code, "%q", args)
		requireOneErrorLine(t, "node run", stderr.String())
	}
	_, err := os.Stat(f)
	assert.True(t, os.IsNotExist(err), "no identity written on a usage error")

	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitOK, run(context.Background(), []string{"run", "-h"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "-peer HOST:PORT[#PEER_ID]")

	// A listen address that cannot be used fails after the identity.
	stderr.Reset()
	code := run(context.Background(), []string{"run", "-identity", f, "-listen", "256.0.0.1:1", "-pow", "0"}, &stdout, &stderr)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr.String(), "listen")
}

// -pow 0 means no proof of work for a loaded identity too, not the
// library's default difficulty.
func TestRunReusesIdentityWithoutPoW(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.json")
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		n := startNode(t, ctx, strings.NewReader(""), "-identity", path, "-listen", "127.0.0.1:0", "-pow", "0")
		cancel()
		require.Equal(t, exitOK, n.wait(t), n.stderr)
	}
}

// requireOneErrorLine checks a usage error's output: the error on one line
// and the hint to run with -h, not the whole usage.
func requireOneErrorLine(t *testing.T, prog, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	require.Len(t, lines, 2, "%s", stderr)
	assert.True(t, strings.HasPrefix(lines[0], prog+": "), lines[0])
	assert.Equal(t, `run "`+prog+` -h" for usage`, lines[1])
}
