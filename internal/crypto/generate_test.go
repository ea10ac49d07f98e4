package crypto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAsmUpToDate regenerates salsa_amd64.s and its Go stubs with
// the avo program in _asm (its own module) and requires the committed files
// to be byte-identical. To regenerate after editing _asm:
//
//	cd internal/crypto && go generate
//
// which runs, from _asm,
//
//	go run . -out ../salsa_amd64.s -stubs ../salsa_amd64_stub.go -pkg crypto
//
// The generator runs on a copy of _asm so that the relative paths, which
// avo records in the file header, are the same as in the real command.
// The test is skipped under -short and when the go command or the avo
// module cannot be had (no module cache and no network).
func TestGeneratedAsmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the avo generator; skipped under -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := filepath.Join(t.TempDir(), "_asm")
	if err := os.CopyFS(dir, os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gobin, "-C", dir, "mod", "download").CombinedOutput(); err != nil {
		t.Skipf("avo module unavailable: %v\n%s", err, out)
	}
	cmd := exec.Command(gobin, "-C", dir, "run", ".",
		"-out", "../salsa_amd64.s", "-stubs", "../salsa_amd64_stub.go", "-pkg", "crypto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator failed: %v\n%s", err, out)
	}
	for _, name := range []string{"salsa_amd64.s", "salsa_amd64_stub.go"} {
		want, err := os.ReadFile(filepath.Join(dir, "..", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what _asm generates; run go generate in internal/crypto", name)
		}
	}
}
