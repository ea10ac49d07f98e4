package peersfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/p2ppool/p2ppool/internal/atomicfile"
)

// filePerm is the mode of a new peers file, before the umask. Octez
// creates it with Lwt_io's default 0o666; nothing in it is secret, but
// there is no reason for other users to be able to write it.
const filePerm = 0o644

// CorruptError reports a peers file that could not be decoded. Load moves
// such a file aside, so that the next Save cannot destroy what may be the
// only copy of the peer list, and so that the next start does not stumble
// on it again.
type CorruptError struct {
	// Path is the file that was read.
	Path string
	// MovedTo is where the file now is, or "" if moving it failed.
	MovedTo string
	// Err is the decoding error; it wraps ErrCorrupt.
	Err error
	// MoveErr is why the file could not be moved aside, if it could not.
	MoveErr error
}

// Error says what was wrong and where the file went.
func (e *CorruptError) Error() string {
	if e.MoveErr != nil {
		return fmt.Sprintf("peersfile: %s is corrupt and could not be moved aside (%v): %v", e.Path, e.MoveErr, e.Err)
	}
	return fmt.Sprintf("peersfile: %s is corrupt, moved to %s: %v", e.Path, e.MovedTo, e.Err)
}

// Unwrap returns the decoding error, so errors.Is(err, ErrCorrupt) holds.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is reports target == ErrCorrupt, even if Err was built elsewhere.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Load reads the peers file at path, keeping the last historySize events of
// each peer (≤ 0: DefaultHistorySize).
//
// Like octez's File.load, a missing file and the path "/dev/null" yield no
// peers and no error. Other read errors are returned as they are. A file
// that Decode refuses is renamed to path + ".corrupt-<UTC time>" (with a
// numeric suffix if that name is taken; an existing file is never
// replaced) and a *CorruptError is returned: the caller may then start
// with no peers, which is what octez does for a syntax error (octez's
// node refuses to start on a schema error instead).
//
// Load must not run while another process saves to the same path: it
// could move aside a file that was replaced after it was read.
func Load(path string, historySize int) ([]Record, error) {
	if path == "/dev/null" || path == os.DevNull {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("peersfile: %w", err)
	}
	recs, err := Decode(data, historySize)
	if err != nil {
		cerr := &CorruptError{Path: path, Err: err}
		cerr.MovedTo, cerr.MoveErr = moveAside(path, time.Now())
		return nil, cerr
	}
	return recs, nil
}

// Save writes recs to path atomically: the content goes to a temporary file
// in the same directory, which is synced and then renamed over path, and
// the directory is synced. Whatever happens, path holds either its old
// content or the complete new one.
//
// A writer killed mid-save leaves its temporary file behind (named
// ".<base>.tmp-<16 hex digits>" by internal/atomicfile); Save first
// removes such leftovers, so that they do not accumulate. This assumes,
// like octez, that one process at a time writes the file. Octez's own
// leftover, path + ".tmp", is not ours and is left alone.
func Save(path string, recs []Record) error {
	data, err := Encode(recs)
	if err != nil {
		return err
	}
	return writeFile(path, data)
}

// writeFile is Save after encoding.
func writeFile(path string, data []byte) error {
	removeStaleTemps(path)
	if err := atomicfile.WriteFile(path, data, filePerm); err != nil {
		return fmt.Errorf("peersfile: %w", err)
	}
	return nil
}

// tempHexLen is the length of the random part of atomicfile's temporary
// names.
const tempHexLen = 16

// isStaleTemp reports whether name is one of atomicfile's temporary files
// for base.
func isStaleTemp(name, base string) bool {
	prefix := "." + base + ".tmp-"
	suffix, ok := strings.CutPrefix(name, prefix)
	if !ok || len(suffix) != tempHexLen {
		return false
	}
	for _, c := range []byte(suffix) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// removeStaleTemps removes leftovers of interrupted saves to path. Errors
// are ignored: a leftover costs only disk space, and the save itself does
// not depend on it being gone.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && isStaleTemp(e.Name(), base) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// moveAside renames the file at path to a fresh name
// path + ".corrupt-<UTC time>[-N]" and returns that name. A hard link
// followed by removing path is used so that an existing file of that name
// can never be replaced (rename would silently replace it); where hard
// links are not supported it falls back to checking, then renaming.
func moveAside(path string, now time.Time) (string, error) {
	stamp := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	for i := 0; i < 1000; i++ {
		dst := stamp
		if i > 0 {
			dst += "-" + strconv.Itoa(i)
		}
		err := os.Link(path, dst)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", err // path itself vanished
			}
			// No hard links here: rename, after making sure dst is free.
			if _, serr := os.Lstat(dst); serr == nil {
				continue
			}
			if err := os.Rename(path, dst); err != nil {
				return "", err
			}
		} else if err := os.Remove(path); err != nil {
			// Both names refer to the file; the next Load will find the
			// corrupt file again and move it again.
			return "", err
		}
		syncDir(filepath.Dir(path))
		return dst, nil
	}
	return "", fmt.Errorf("no free name of the form %s-N", stamp)
}

// syncDir makes a rename in dir durable, as far as the system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
