package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entries lists dir, so tests can check that no temporary file is left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")

	require.NoError(t, WriteFile(path, []byte("one"), 0o600))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one", string(got))

	// Replacing keeps a single, complete file.
	require.NoError(t, WriteFile(path, []byte("two, longer"), 0o600))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two, longer", string(got))
	assert.Equal(t, []string{"f.json"}, entries(t, dir))
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, WriteFile("rel", []byte("x"), 0o644))
	got, err := os.ReadFile("rel")
	require.NoError(t, err)
	assert.Equal(t, "x", string(got))
}

// On failure the temp file is removed and the old content survives.
func TestWriteFileFailureLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()

	// The target is a non-empty directory: rename fails.
	target := filepath.Join(dir, "target")
	require.NoError(t, os.Mkdir(target, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(target, "keep"), []byte("k"), 0o644))
	err := WriteFile(target, []byte("new"), 0o644)
	require.Error(t, err)
	assert.Equal(t, []string{"target"}, entries(t, dir))
	assert.Equal(t, []string{"keep"}, entries(t, target))

	// The directory does not exist: nothing can be created.
	err = WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, []string{"target"}, entries(t, dir))
}

func TestWriteFileReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(dir, 0o555))
	defer os.Chmod(dir, 0o755)

	assert.Error(t, WriteFile(path, []byte("new"), 0o644))
	got, _ := os.ReadFile(path)
	assert.Equal(t, "old", string(got))
}

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.json")

	require.NoError(t, CreateFile(path, []byte("first"), 0o644))
	err := CreateFile(path, []byte("second"), 0o644)
	require.ErrorIs(t, err, fs.ErrExist)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, path, pe.Path)

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got), "existing file untouched")
	assert.Equal(t, []string{"identity.json"}, entries(t, dir), "no temporary file left")
}

// Racing creators: exactly one wins, the file holds the winner's data.
func TestCreateFileRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = CreateFile(path, []byte{byte('a' + i)}, 0o644)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "two creators succeeded")
			winner = i
		} else {
			assert.ErrorIs(t, err, fs.ErrExist)
		}
	}
	require.NotEqual(t, -1, winner)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []byte{byte('a' + winner)}, got)
	assert.Equal(t, []string{"f"}, entries(t, dir))
}

// Errors name the file the caller asked for, never the temporary file it
// does not know of: a missing folder, and a rename onto a directory.
func TestErrorsNameTheTarget(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "peers.json")
	for _, write := range []func(string, []byte, os.FileMode) error{WriteFile, CreateFile} {
		err := write(missing, []byte("x"), 0o600)
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, "open "+missing+": no such file or directory", err.Error())
		assert.NotContains(t, err.Error(), ".tmp-")
	}

	target := filepath.Join(dir, "target")
	require.NoError(t, os.Mkdir(target, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(target, "keep"), []byte("k"), 0o644))
	err := WriteFile(target, []byte("new"), 0o644)
	require.Error(t, err)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, target, pe.Path)
	assert.Equal(t, "rename", pe.Op)
	assert.NotContains(t, err.Error(), ".tmp-")
}
