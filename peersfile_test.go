package p2ppool

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/peersfile"
)

func TestPeersFileSurvivesARestart(t *testing.T) {
	n := newNetwork("mem")
	path := filepath.Join(t.TempDir(), "peers.json")
	id := testIdentity(t)
	a := newNode(t, n, func(c *Config) { c.Identity, c.PeersFile.Path = id, path })
	b := newNode(t, n, nil)
	connect(t, a, b)
	a.Peers().Trust(b.Config().Identity.PeerID)
	require.NoError(t, a.Shutdown(context.Background()))

	again, err := NewBasic(textMessages(), Config{Identity: id, ProofOfWorkTarget: NoProofOfWork, PeersFile: PeersFileConfig{Path: path}, Dialer: n, Maintenance: MaintenanceConfig{IdleTime: Disabled}})
	require.NoError(t, err)
	defer again.Close()
	pi, ok := again.Peers().Info(b.Config().Identity.PeerID)
	require.True(t, ok, "the peer is known again")
	assert.True(t, pi.Trusted)
	assert.Equal(t, PeerDisconnected, pi.State)
	assert.Equal(t, b.point, pi.LastEstablishedConnection.Point)
	assert.False(t, pi.LastEstablishedConnection.Time.IsZero())
	kinds := []PeerEventKind{}
	for _, e := range again.Peers().Events(b.Config().Identity.PeerID) {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []PeerEventKind{PeerEventIncomingRequest, PeerEventConnectionEstablished}, kinds,
		"octez saves before tearing down: the file has the connection, not its end")
	_, known := again.Points().Info(b.point)
	assert.True(t, known, "the point the peer was last seen at is known again")
}

func TestCorruptPeersFileIsKeptAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(path, []byte(`[ { "peer_id": "idrRoknJh9zwE`), 0o644))
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, PeersFile: PeersFileConfig{Path: path}}
	_, err := NewBasic(textMessages(), cfg)
	require.ErrorIs(t, err, ErrPeersFileCorrupt)
	var ce *PeersFileCorruptError
	require.ErrorAs(t, err, &ce, "reachable with errors.As")
	assert.Equal(t, path, ce.Path)
	assert.FileExists(t, ce.MovedTo, "the corrupt file, kept aside")
	_, statErr := os.Stat(path)
	assert.True(t, os.IsNotExist(statErr), "the corrupt file no longer blocks the path")
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1)
	kept, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	assert.Equal(t, `[ { "peer_id": "idrRoknJh9zwE`, string(kept), "the corrupt file is kept, unchanged")
	assert.Contains(t, err.Error(), entries[0].Name(), "the error says where it went")

	// Starting again works, with no peers.
	p, err := NewBasic(textMessages(), cfg)
	require.NoError(t, err)
	p.Close()
}

// TestOctezPeersFileRoundTrip loads a peers file laid out by octez (with
// octez's peer metadata) and saves it back: octez's fields, metadata and
// unknown fields come back unchanged.
func TestOctezPeersFileRoundTrip(t *testing.T) {
	orig, err := os.ReadFile("internal/peersfile/testdata/octez_peers.json")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "peers.json")
	require.NoError(t, os.WriteFile(path, orig, 0o644))
	cfg := Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork, PeersFile: PeersFileConfig{Path: path}}
	p, err := New(textMessages(), OctezPeerMeta(), OctezConnMeta(), cfg)
	require.NoError(t, err)
	require.NoError(t, p.Peers().Save())
	p.Close()
	saved, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := peersfile.Decode(orig, 0)
	require.NoError(t, err)
	got, err := peersfile.Decode(saved, 0)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	byID := map[[16]byte]peersfile.Record{}
	for _, r := range got {
		byID[r.PeerID] = r
	}
	for _, w := range want {
		g := byID[w.PeerID]
		assert.Equal(t, w.Trusted, g.Trusted)
		assert.True(t, w.Created.Equal(g.Created))
		assert.JSONEq(t, string(w.Metadata), string(g.Metadata))
		assert.Equal(t, len(w.Events), len(g.Events))
		assert.Equal(t, w.Unknown, g.Unknown)
	}
}

func TestNewPeersStartWithOctezMetadata(t *testing.T) {
	p, err := New(textMessages(), OctezPeerMeta(), OctezConnMeta(),
		Config{Identity: testIdentity(t), ProofOfWorkTarget: NoProofOfWork})
	require.NoError(t, err)
	defer p.Close()
	assert.JSONEq(t, string(peersfile.EmptyPeerMetadata()), string(p.Peers().Meta(PeerID{1})))
}
