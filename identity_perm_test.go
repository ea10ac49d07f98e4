package p2ppool

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Save creates the file 0600, as it holds the secret key, and
// CheckIdentityFilePerm flags a file the group or others may read.
func TestIdentityFilePerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits do not show Windows ACLs")
	}
	id, err := GenerateIdentity(context.Background(), NoProofOfWork, nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "identity.json")
	require.NoError(t, id.Save(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	assert.NoError(t, CheckIdentityFilePerm(path))

	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		require.NoError(t, os.Chmod(path, mode))
		err := CheckIdentityFilePerm(path)
		require.ErrorIs(t, err, ErrIdentityFileExposed, "%#o", mode)
		var ie *IdentityError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, path, ie.Path)
		assert.Contains(t, err.Error(), "chmod 600 "+path)
		// It still loads, as octez's 0644 files must.
		_, err = LoadIdentity(path, NoProofOfWork)
		assert.NoError(t, err)
	}
	require.NoError(t, os.Chmod(path, 0o400))
	assert.NoError(t, CheckIdentityFilePerm(path))

	err = CheckIdentityFilePerm(filepath.Join(t.TempDir(), "none.json"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// A save into a missing folder names the file asked for, not the
// temporary file it is written through.
func TestIdentitySaveErrorNamesFile(t *testing.T) {
	id, err := GenerateIdentity(context.Background(), NoProofOfWork, nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "missing", "identity.json")
	err = id.Save(path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
	assert.NotContains(t, err.Error(), ".tmp-")
}
