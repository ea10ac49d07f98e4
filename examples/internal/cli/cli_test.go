package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/p2ppool/p2ppool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFlags is a flag set as the commands make them, with a usage long
// enough to push an error off a screen.
func newFlags(stderr *bytes.Buffer) (*flag.FlagSet, *[]string) {
	fs := flag.NewFlagSet("node run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var peers []string
	PeerFlag(fs, &peers, "peer", "connect to `HOST:PORT[#PEER_ID]`")
	fs.Int("n", 0, "a count")
	fs.Usage = func() {
		fs.Output().Write([]byte("usage: node run [flags]\n" + strings.Repeat("a line of usage\n", 25)))
		fs.PrintDefaults()
	}
	return fs, &peers
}

// A bad command line gives one error line and the hint, exit 2; -h the
// whole usage, exit 0.
func TestParseUsageError(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-n", "many"}, {"-peer", "127.0.0.1"}, {"-peer", "127.0.0.1:0"}, {"-peer", "127.0.0.1:9732#notanid"}} {
		var stderr bytes.Buffer
		fs, _ := newFlags(&stderr)
		code, ok := Parse(fs, args)
		assert.False(t, ok)
		assert.Equal(t, ExitUsage, code, "%q", args)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		require.Len(t, lines, 2, "%q: %q", args, stderr.String())
		assert.True(t, strings.HasPrefix(lines[0], "node run: "), lines[0])
		assert.Equal(t, `run "node run -h" for usage`, lines[1])
	}
	var stderr bytes.Buffer
	fs, _ := newFlags(&stderr)
	code, ok := Parse(fs, []string{"-h"})
	assert.False(t, ok)
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, stderr.String(), "usage: node run")
	assert.Contains(t, stderr.String(), "HOST:PORT[#PEER_ID]")

	stderr.Reset()
	assert.Equal(t, ExitUsage, UsageError(&stderr, "crawler", "at least one -seed is required"))
	assert.Equal(t, "crawler: at least one -seed is required\nrun \"crawler -h\" for usage\n", stderr.String())
}

// -peer takes HOST:PORT#PEER_ID, octez's form, as the crawler's -seed.
func TestPeerFlag(t *testing.T) {
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	var stderr bytes.Buffer
	fs, peers := newFlags(&stderr)
	withID := "127.0.0.1:9732#" + id.PeerID.String()
	_, ok := Parse(fs, []string{"-peer", withID, "-peer", "[::1]:9733", "-peer", "node.example.com:9732"})
	require.True(t, ok, stderr.String())
	assert.Equal(t, []string{withID, "[::1]:9733", "node.example.com:9732"}, *peers)
	ps, err := ParsePeer(withID)
	require.NoError(t, err)
	assert.Equal(t, id.PeerID, ps.Peer)
	assert.Equal(t, uint16(9732), ps.Port)
	_, err = ParsePeer("127.0.0.1:0")
	assert.ErrorIs(t, err, p2ppool.ErrInvalidPoint)
}

// -chain mainnet means the chain name mainnet's peers announce.
func TestChainName(t *testing.T) {
	assert.Equal(t, "TEZOS_MAINNET", ChainName("mainnet"))
	assert.True(t, strings.HasPrefix(ChainName("ghostnet"), "TEZOS_ITHACANET"), ChainName("ghostnet"))
	assert.Equal(t, "MY_CHAIN", ChainName("MY_CHAIN"))
	assert.Equal(t, "TEZOS_MAINNET", ChainName("TEZOS_MAINNET"))
}

// A file in a missing folder is refused at start, naming the file given.
func TestCheckFileDir(t *testing.T) {
	dir := t.TempDir()
	assert.NoError(t, CheckFileDir("peers-file", filepath.Join(dir, "peers.json")))
	missing := filepath.Join(dir, "nope", "peers.json")
	err := CheckFileDir("peers-file", missing)
	require.Error(t, err)
	assert.Equal(t, "-peers-file "+missing+": folder "+filepath.Join(dir, "nope")+" does not exist", err.Error())
	assert.ErrorContains(t, CheckFileDir("peers-file", dir), "is a folder")
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.ErrorContains(t, CheckFileDir("identity", filepath.Join(file, "x.json")), "is not a folder")
}

// -log-level and -log-format make the handler they name.
func TestLogFlags(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		json      bool
		debugShow bool
		infoShow  bool
	}{
		{nil, false, false, true},
		{[]string{"-log-level", "debug"}, false, true, true},
		{[]string{"-log-level", "warn", "-log-format", "json"}, true, false, false},
		{[]string{"-log-format", "json", "-log-level", "DEBUG"}, true, true, true},
	} {
		var l LogFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		l.Register(fs)
		require.NoError(t, fs.Parse(tt.args))
		var out bytes.Buffer
		log := l.Logger(&out)
		log.Debug("dbg", "remote", "1.2.3.4:5")
		log.Info("inf")
		log.Warn("wrn")
		s := out.String()
		assert.Equal(t, tt.debugShow, strings.Contains(s, "dbg"), "%q", tt.args)
		assert.Equal(t, tt.infoShow, strings.Contains(s, "inf"), "%q", tt.args)
		assert.Contains(t, s, "wrn")
		first, _, _ := strings.Cut(s, "\n")
		assert.Equal(t, tt.json, json.Valid([]byte(first)), "%q: %s", tt.args, first)
		if !tt.json {
			assert.Contains(t, first, "level=")
		}
	}
	var l LogFlags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	l.Register(fs)
	assert.Error(t, fs.Parse([]string{"-log-format", "yaml"}))
	assert.Error(t, fs.Parse([]string{"-log-level", "loud"}))
}

// Identity files others can read are warned about; 0600 ones are not.
func TestWarnIdentityPerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "identity.json")
	require.NoError(t, id.Save(path))
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	assert.False(t, WarnIdentityPerm(log, path))
	assert.Empty(t, out.String())
	require.NoError(t, os.Chmod(path, 0o644))
	assert.True(t, WarnIdentityPerm(log, path))
	assert.Contains(t, out.String(), "level=WARN")
	assert.Contains(t, out.String(), "chmod 600 "+path)
}

// Outside a terminal the progress has no \r: a line every
// PipeProgressInterval, and the final one. Its odds never reach 100%.
func TestProgressPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		p := NewProgress(&out, 20)
		p.Update(1000)
		assert.Empty(t, out.String(), "nothing in the first seconds")
		time.Sleep(PipeProgressInterval)
		p.Update(2_076_000) // 198% of 2^20: the old "198% of expected"
		p.Update(2_100_000) // too soon for another line
		time.Sleep(PipeProgressInterval)
		p.Update(30_000_000)
		p.Finish()
		s := out.String()
		assert.NotContains(t, s, "\r")
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		require.Len(t, lines, 3, s)
		assert.Equal(t, "2.08M stamps tried (86% of searches end by now), 415.20k/s, 5s", lines[0])
		assert.Contains(t, lines[1], "30.00M stamps tried (99% of searches end by now)")
		assert.Equal(t, lines[1], lines[2])
	})
}

// On a terminal it redraws one line in place, padding a shorter line over
// a longer one.
func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, 20)
	p.tty = true // what IsTerminal says of a terminal
	p.Update(1_500_000)
	p.Update(10)
	p.Finish()
	s := out.String()
	assert.True(t, strings.HasPrefix(s, "\r1.50M stamps tried (76% of searches end by now)"), s)
	parts := strings.Split(s, "\r")
	require.Len(t, parts, 3)
	assert.Equal(t, len(parts[1]), len(strings.TrimSuffix(parts[2], "\n")))
	assert.True(t, strings.HasSuffix(s, "\n"))
}

func TestIsTerminal(t *testing.T) {
	assert.False(t, IsTerminal(&bytes.Buffer{}))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, IsTerminal(w))
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer null.Close()
	assert.False(t, IsTerminal(null))
}
