package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The identity subcommand searches proof of work on several goroutines:
// none may outlive a run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCmd runs the command line in-process and returns its exit code and
// outputs.
func runCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	code, stdout, stderr := runCmd(t, ctx)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "usage: node <subcommand>")
	assert.Contains(t, stderr, "identity")
	// An unknown subcommand: one error line and where to look.
	code, stdout, stderr = runCmd(t, ctx, "bogus")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "node: unknown subcommand \"bogus\"\nrun \"node help\" for the subcommands\n", stderr)
	code, stdout, _ = runCmd(t, ctx, "help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "usage: node <subcommand>")
}

func TestIdentityUsageErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := filepath.Join(dir, "id.json")
	for _, args := range [][]string{
		{"identity"},                          // neither -o nor -check
		{"identity", "-o", f, "-check", f},    // both
		{"identity", "-o", f, "extra"},        // stray argument
		{"identity", "-o", f, "-pow", "-1"},   // out of range
		{"identity", "-o", f, "-pow", "300"},  // out of range
		{"identity", "-o", f, "-pow", "many"}, // not a number
		{"identity", "-nope"},                 // unknown flag
	} {
		code, _, stderr := runCmd(t, ctx, args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		requireOneErrorLine(t, "node identity", stderr)
	}
	_, err := os.Stat(f)
	assert.True(t, os.IsNotExist(err), "no file written on a usage error")

	code, _, stderr := runCmd(t, ctx, "identity", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stderr, "-pow BITS")
}

func TestIdentityGenerateAndCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "identity.json")

	code, stdout, stderr := runCmd(t, ctx, "identity", "-o", path, "-pow", "8")
	require.Equal(t, exitOK, code, stderr)
	peerID := strings.TrimSpace(stdout)
	assert.Len(t, peerID, 30)
	assert.True(t, strings.HasPrefix(peerID, "id"), peerID)
	assert.Contains(t, stderr, "Stored the new identity ("+peerID+")")

	// The file passes the check at the level it was made for.
	code, stdout, stderr = runCmd(t, ctx, "identity", "-check", path, "-pow", "8")
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, peerID+"\n", stdout)

	// A much higher requirement fails (2^-32 chance of passing by luck).
	code, stdout, stderr = runCmd(t, ctx, "identity", "-check", path, "-pow", "40")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "insufficient proof of work")
	assert.Contains(t, stderr, "proof_of_work_stamp")

	// Never overwrite, like octez.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	code, _, stderr = runCmd(t, ctx, "identity", "-o", path, "-pow", "8")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "already exists")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestIdentityCheckTampered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.json")
	code, _, stderr := runCmd(t, ctx, "identity", "-o", path, "-pow", "8")
	require.Equal(t, exitOK, code, stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	// Flip one hex digit inside the secret key: the keys no longer match.
	i := bytes.Index(data, []byte(`"secret_key":`))
	require.Positive(t, i)
	j := i + bytes.IndexByte(data[i+len(`"secret_key":`):], '"') + len(`"secret_key":`) + 1
	tampered := bytes.Clone(data)
	tampered[j+10] = flipHex(tampered[j+10])
	bad := filepath.Join(dir, "tampered.json")
	require.NoError(t, os.WriteFile(bad, tampered, 0o600))

	code, stdout, stderr := runCmd(t, ctx, "identity", "-check", bad, "-pow", "0")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "field secret_key")

	// Not JSON at all.
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("not json"), 0o600))
	code, _, stderr = runCmd(t, ctx, "identity", "-check", garbage)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "invalid JSON")

	// Missing file.
	code, _, stderr = runCmd(t, ctx, "identity", "-check", filepath.Join(dir, "none.json"))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no such file")
}

func TestIdentityGenerateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(t.TempDir(), "identity.json")
	code, stdout, stderr := runCmd(t, ctx, "identity", "-o", path, "-pow", "60")
	assert.Equal(t, exitInterrupted, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "interrupted")
	_, err := os.Stat(path)
	assert.True(t, os.IsNotExist(err), "nothing written")
}

// flipHex changes a hex digit to another one.
func flipHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}
