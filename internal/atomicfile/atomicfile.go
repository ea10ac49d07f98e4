// Package atomicfile writes files so that readers, and the file system
// after a crash, see either the old content or the complete new content,
// never a truncated mix: the data go to a temporary file in the same
// directory, which is synced and then renamed (or linked) into place,
// and the directory is synced so that the new name itself is durable.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// tempAttempts bounds the search for an unused temporary name; with 64
// random bits a collision means something else is wrong.
const tempAttempts = 10

// WriteFile writes data to path atomically, replacing any existing file.
// perm is applied like os.WriteFile applies it (filtered by the umask) to
// the new file. On any error before the rename, the temporary file is
// removed and the old file is left untouched. An error syncing the
// directory after the rename is still reported, although the new file is
// then already in place. Errors name path, never the temporary file the
// caller does not know of (an *fs.PathError for path where the failure
// was the temporary file's).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// CreateFile is WriteFile for a file that must not exist yet: when path
// exists it fails with an error wrapping fs.ErrExist and leaves the
// existing file alone. The check and the creation are one atomic step (a
// hard link) where the file system supports hard links, so two racing
// writers cannot both succeed; elsewhere it falls back to checking, then
// renaming.
func CreateFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

func write(path string, data []byte, perm os.FileMode, exclusive bool) error {
	tmp, err := writeTemp(path, data, perm, exclusive)
	return nameTarget(err, path, tmp)
}

// nameTarget rewrites an error about the temporary file tmp (an
// *fs.PathError on it, or the *os.LinkError of the rename or link) as an
// *fs.PathError on path, keeping the operation and the cause, so that
// errors.Is(err, fs.ErrNotExist) and the like still hold and the message
// names the file the caller asked for: "open dir/peers.json: no such file
// or directory", not "open dir/.peers.json.tmp-1f2e…".
func nameTarget(err error, path, tmp string) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && tmp != "" && pe.Path == tmp:
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	case errors.As(err, &le):
		return &fs.PathError{Op: le.Op, Path: path, Err: le.Err}
	}
	return err
}

// writeTemp is write; it returns the temporary file's name once it has
// one, for nameTarget.
func writeTemp(path string, data []byte, perm os.FileMode, exclusive bool) (tmp string, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if exclusive {
		// Fail before writing anything when the answer is already known.
		if _, err := os.Lstat(path); err == nil {
			return "", existErr(path)
		}
	}

	f, tmp, err := createTemp(dir, base, perm)
	if err != nil {
		return tmp, err
	}
	defer func() {
		if err != nil {
			f.Close()      // harmless if already closed
			os.Remove(tmp) // the temp file never outlives a failure
		}
	}()

	if _, err := f.Write(data); err != nil {
		return tmp, err
	}
	// Data must be on disk before the name points at it, or a crash could
	// leave the new name on an empty file.
	if err := f.Sync(); err != nil {
		return tmp, err
	}
	if err := f.Close(); err != nil {
		return tmp, err
	}

	if exclusive {
		if err := link(tmp, path); err != nil {
			return tmp, err
		}
		// Both names now refer to the file; dropping the temporary one
		// cannot lose data.
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return tmp, err
	}
	return tmp, syncDir(dir)
}

// createTemp creates a new, hidden file next to the target, with perm
// filtered by the umask (os.CreateTemp would force 0600). On failure it
// returns the name it last tried.
func createTemp(dir, base string, perm os.FileMode) (*os.File, string, error) {
	var rnd [8]byte
	for range tempAttempts {
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, name, err
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("atomicfile: no free temporary name for %s in %s", base, dir)
}

// link gives tmp the name path unless path exists.
func link(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return existErr(path)
	}
	// No hard links here (some FUSE, FAT or network file systems): check,
	// then rename. Another writer could slip in between the two.
	if _, statErr := os.Lstat(path); statErr == nil {
		return existErr(path)
	}
	return os.Rename(tmp, path)
}

func existErr(path string) error {
	return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
}

// syncDir makes a rename or link in dir durable. Windows cannot sync a
// directory and does not need to.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
