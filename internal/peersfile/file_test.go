package peersfile

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dirNames lists dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

func TestLoadNothing(t *testing.T) {
	recs, err := Load(filepath.Join(t.TempDir(), "peers.json"), 0)
	require.NoError(t, err)
	assert.Nil(t, recs)

	recs, err = Load("/dev/null", 0)
	require.NoError(t, err)
	assert.Nil(t, recs)
}

func TestLoadReadErrorIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	require.NoError(t, os.Mkdir(path, 0o755))
	_, err := Load(path, 0)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrCorrupt)
	assert.Equal(t, []string{"peers.json"}, dirNames(t, dir), "nothing moved")
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	want := sampleRecords(t)
	require.NoError(t, Save(path, want))

	got, err := Load(path, 0)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	golden, err := os.ReadFile("testdata/octez_peers.json")
	require.NoError(t, err)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(golden), string(data))

	// Saving again replaces the file and leaves nothing else behind.
	require.NoError(t, Save(path, want[:1]))
	got, err = Load(path, 0)
	require.NoError(t, err)
	assert.Equal(t, want[:1], got)
	assert.Equal(t, []string{"peers.json"}, dirNames(t, dir))

	// An empty list is the file "[]", which loads as no peers.
	require.NoError(t, Save(path, nil))
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "[]", string(data))
	got, err = Load(path, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestSaveInvalidLeavesFileAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	require.NoError(t, Save(path, sampleRecords(t)))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	bad := sampleRecords(t)
	bad[2].Events[0].Addr = netip.Addr{}
	err = Save(path, bad)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "record 2 (idrT4uwhJ2mJ64gXTsoT9YmjgoCiMB): event 0")

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.Equal(t, []string{"peers.json"}, dirNames(t, dir))
}

func TestSaveRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	stale := []string{".peers.json.tmp-0123456789abcdef", ".peers.json.tmp-ffffffffffffffff"}
	kept := []string{
		".peers.json.tmp-0123456789ABCDEF", // not atomicfile's (lowercase hex)
		".peers.json.tmp-0123",
		".peers.json.tmp-0123456789abcdef0",
		".other.json.tmp-0123456789abcdef",
		"peers.json.tmp", // octez's own temporary file: not ours
		"peers.json.corrupt-20240101T000000Z",
		"identity.json",
	}
	for _, n := range append(append([]string(nil), stale...), kept...) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644))
	}
	require.NoError(t, Save(path, nil))
	want := append([]string{"peers.json"}, kept...)
	sort.Strings(want)
	assert.Equal(t, want, dirNames(t, dir))
}

// TestLoadTruncated: every proper prefix of a valid file is reported as
// corrupt, moved aside intact, and nothing else in the directory changes.
func TestLoadTruncated(t *testing.T) {
	recs := []Record{{
		PeerID:   mustPeerID(t, "idrRoknJh9zwEePNswF3MPGFzmKaVp"),
		Created:  ms(2024, time.March, 1, 10, 0, 0, 0),
		Trusted:  true,
		Metadata: json.RawMessage(`{"sent":"12","received":"0"}`),
		Events: []Event{
			{Kind: EventIncomingRequest, Timestamp: ms(2024, time.March, 1, 10, 0, 1, 5), Addr: v4("192.168.1.10"), Port: 9732, HasPort: true},
			{Kind: EventRequestRejected, Timestamp: ms(2024, time.March, 1, 10, 0, 2, 5), Addr: netip.MustParseAddr("2001:db8::1")},
		},
		LastRejectedConnection:    &ConnPoint{Addr: netip.MustParseAddr("2001:db8::1"), Time: ms(2024, time.March, 1, 10, 0, 2, 5)},
		LastEstablishedConnection: &ConnPoint{Addr: v4("192.168.1.10"), Port: 9732, HasPort: true, Time: ms(2024, time.March, 1, 10, 0, 1, 5)},
	}}
	full, err := Encode(recs)
	require.NoError(t, err)
	require.Greater(t, len(full), 500)

	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	other := filepath.Join(dir, "identity.json")
	require.NoError(t, os.WriteFile(other, []byte("unrelated"), 0o600))

	for n := 0; n < len(full); n++ {
		require.NoError(t, os.WriteFile(path, full[:n], 0o644))
		got, err := Load(path, 0)
		require.Nil(t, got)
		require.ErrorIs(t, err, ErrCorrupt, "prefix of %d bytes", n)
		var cerr *CorruptError
		require.True(t, errors.As(err, &cerr))
		require.NoError(t, cerr.MoveErr)
		require.Equal(t, path, cerr.Path)
		require.True(t, strings.HasPrefix(cerr.MovedTo, path+".corrupt-"), cerr.MovedTo)
		require.Contains(t, err.Error(), cerr.MovedTo)

		moved, rerr := os.ReadFile(cerr.MovedTo)
		require.NoError(t, rerr)
		require.Equal(t, full[:n], moved, "moved intact")
		require.Equal(t, []string{"identity.json", filepath.Base(cerr.MovedTo)}, dirNames(t, dir), "prefix of %d bytes", n)
		require.NoError(t, os.Remove(cerr.MovedTo))
	}
	data, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, "unrelated", string(data))

	// And the whole file loads.
	require.NoError(t, os.WriteFile(path, full, 0o644))
	got, err := Load(path, 0)
	require.NoError(t, err)
	assert.Equal(t, recs, got)
}

// TestCorruptFilesNeverOverwritten: corrupt files moved aside in the same
// second get distinct names, and an existing file is never replaced.
func TestCorruptFilesNeverOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 7200))
	stamp := path + ".corrupt-20240506T050809Z"
	require.NoError(t, os.WriteFile(stamp, []byte("older"), 0o644))
	require.NoError(t, os.WriteFile(stamp+"-1", []byte("old"), 0o644))

	for i, content := range []string{"first", "second"} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		dst, err := moveAside(path, now)
		require.NoError(t, err)
		assert.Equal(t, stamp+"-"+string(rune('2'+i)), dst)
		data, err := os.ReadFile(dst)
		require.NoError(t, err)
		assert.Equal(t, content, string(data))
	}
	for name, want := range map[string]string{stamp: "older", stamp + "-1": "old"} {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		assert.Equal(t, want, string(data))
	}
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// Through Load, twice in a row: two files.
	for range 2 {
		require.NoError(t, os.WriteFile(path, []byte("{"), 0o644))
		_, err := Load(path, 0)
		require.ErrorIs(t, err, ErrCorrupt)
	}
	assert.Len(t, dirNames(t, dir), 6)
}

func TestCorruptErrorMessage(t *testing.T) {
	err := &CorruptError{Path: "/d/peers.json", MovedTo: "/d/peers.json.corrupt-X", Err: errors.New("boom")}
	assert.Equal(t, "peersfile: /d/peers.json is corrupt, moved to /d/peers.json.corrupt-X: boom", err.Error())
	assert.ErrorIs(t, err, ErrCorrupt, "even when Err does not wrap it")
	err.MoveErr = errors.New("read-only")
	assert.Contains(t, err.Error(), "could not be moved aside (read-only)")
}
