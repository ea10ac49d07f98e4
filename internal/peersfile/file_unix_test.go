//go:build unix

package peersfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSavePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	require.NoError(t, Save(path, nil))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	assert.Equal(t, os.FileMode(filePerm&^umask), fi.Mode().Perm())
}
