package peersfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The crash test: a child process (this test binary, re-executed to run
// TestHelperWriter) saves large peer lists in a loop; the parent kills it
// with SIGKILL at random moments, many times, and after every kill the
// file must load and hold one of the complete lists.

const (
	crashEnvPath  = "PEERSFILE_CRASH_WRITER_PATH"
	crashEnvLists = "PEERSFILE_CRASH_WRITER_LISTS"
	crashLists    = 3   // distinct lists the writer cycles through
	crashPeers    = 120 // peers per list: a file of about 500 kB
	crashKills    = 50
	crashReady    = "writer ready"
)

// crashList builds list number i, deterministically, so that parent and
// child agree on it. Each list has a different length and content.
func crashList(i int) []Record {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	recs := make([]Record, crashPeers+i)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func() time.Time {
		return base.Add(time.Duration(r.Int64N(int64(365*24*time.Hour))) / time.Millisecond * time.Millisecond)
	}
	for k := range recs {
		rec := &recs[k]
		for j := range rec.PeerID {
			rec.PeerID[j] = byte(r.Uint32())
		}
		rec.Created = at()
		rec.Trusted = k%7 == 0
		rec.Metadata = json.RawMessage(strings.Replace(string(EmptyPeerMetadata()), `"valid_blocks":"0"`,
			fmt.Sprintf(`"valid_blocks":"%d"`, r.Uint32()), 1))
		addr := netip.AddrFrom4([4]byte{10, byte(i), byte(k >> 8), byte(k)})
		for e := range k % 12 {
			rec.Events = append(rec.Events, Event{Kind: EventConnectionEstablished, Timestamp: at(),
				Addr: canonicalAddr(addr), Port: uint16(9732 + e), HasPort: true})
		}
		rec.LastEstablishedConnection = &ConnPoint{Addr: canonicalAddr(addr), Port: 9732, HasPort: true, Time: at()}
	}
	return recs
}

// crashListFile is where the parent stores list i, encoded.
func crashListFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("list-%d.json", i))
}

// TestHelperWriter is the child process of TestCrashDuringSave; it does
// nothing in a normal test run.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("helper process for TestCrashDuringSave")
	}
	// The parent encoded the lists already: reading them is faster than
	// encoding them again in each of the 50 writers.
	lists := make([][]Record, crashLists)
	encoded := make([][]byte, crashLists)
	for i := range lists {
		lists[i] = crashList(i)
		var err error
		if encoded[i], err = os.ReadFile(crashListFile(os.Getenv(crashEnvLists), i)); err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(3)
		}
	}
	// Tell the parent that saving starts now.
	fmt.Println(crashReady)
	// Never outlive a parent that died without killing us.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		// Encoding takes most of a Save's time (ten times more under
		// -race); to have many kills land while the file is being
		// written, most saves, starting with the first, reuse the encoded
		// bytes and go straight to Save's writing half.
		var err error
		if i%4 == 3 {
			err = Save(path, lists[i%crashLists])
		} else {
			err = writeFile(path, encoded[i%crashLists])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(3)
		}
	}
	os.Exit(0)
}

func TestCrashDuringSave(t *testing.T) {
	if os.Getenv(crashEnvPath) != "" {
		t.Skip("in the helper process")
	}
	// The loaded records must be exactly one of the lists, as decoded.
	listDir := t.TempDir()
	want := make([][]Record, crashLists)
	for i := range want {
		enc, err := Encode(crashList(i))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(crashListFile(listDir, i), enc, 0o600))
		want[i], err = Decode(enc, 0)
		require.NoError(t, err)
		require.Equal(t, crashList(i), want[i])
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	start := time.Now()
	var absent, midWrite int
	seen := make([]int, crashLists)
	for iter := range crashKills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvLists+"="+listDir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		// Wait until the writer has built its lists and starts saving,
		// then let it save for a random while: a save takes from a few to
		// tens of milliseconds, depending on the disk and on -race.
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == crashReady {
					ready <- true
					break
				}
			}
			io.Copy(io.Discard, stdout)
			close(ready)
		}()
		select {
		case ok := <-ready:
			require.True(t, ok, "writer exited early: %s", stderr.String())
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("writer never got ready")
		}
		time.Sleep(time.Duration(r.Int64N(int64(40 * time.Millisecond))))
		require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred code, no cleanup
		err = cmd.Wait()
		require.Error(t, err, "the writer must have been killed, not have exited: %s", stderr.String())
		require.NotContains(t, stderr.String(), "save:")

		temps := 0
		names, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, de := range names {
			switch {
			case de.Name() == "peers.json":
			case isStaleTemp(de.Name(), "peers.json"):
				temps++
			default:
				t.Fatalf("unexpected file %s", de.Name())
			}
		}
		// This kill's leftover, plus possibly the previous one if this
		// writer died before its first save cleaned it up.
		require.LessOrEqual(t, temps, 2, "stale temporary files must not accumulate")
		if temps > 0 {
			midWrite++
		}

		got, err := Load(path, 0)
		require.NoError(t, err, "iteration %d", iter)
		if got == nil {
			// Killed before its first save completed; only possible
			// while no save ever completed.
			_, err := os.Stat(path)
			require.ErrorIs(t, err, os.ErrNotExist)
			for _, n := range seen {
				require.Zero(t, n, "the file vanished after a kill")
			}
			absent++
			continue
		}
		match := -1
		for i := range want {
			if len(got) == len(want[i]) && got[0].PeerID == want[i][0].PeerID {
				require.Equal(t, want[i], got, "iteration %d", iter)
				match = i
			}
		}
		require.NotEqual(t, -1, match, "iteration %d: loaded %d records matching no list", iter, len(got))
		seen[match]++
	}
	t.Logf("%d kills in %v: file absent %d times, lists seen %v, killed with a temporary file in place %d times",
		crashKills, time.Since(start).Round(time.Millisecond), absent, seen, midWrite)
	if testing.Verbose() {
		fi, err := os.Stat(path)
		if err == nil {
			t.Logf("file size %s bytes", strconv.FormatInt(fi.Size(), 10))
		}
	}
}
