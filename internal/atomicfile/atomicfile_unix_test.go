//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFilePerm(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := t.TempDir()
	for _, tt := range []struct{ perm, want os.FileMode }{
		{0o600, 0o600},
		{0o644, 0o644},
		{0o666, 0o644}, // the umask applies, as with os.WriteFile
	} {
		path := filepath.Join(dir, tt.perm.String())
		require.NoError(t, WriteFile(path, nil, tt.perm))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, tt.want, fi.Mode().Perm(), "perm %v", tt.perm)
	}
}
