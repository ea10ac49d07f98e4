package crypto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// checkAsmEnv names the environment variable that turns on
// TestGeneratedAsmUpToDate.
const checkAsmEnv = "P2PPOOL_CHECK_ASM"

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
//
// The check runs only when asked, with P2PPOOL_CHECK_ASM=1 (.ci/run sets
// it): it needs the avo module, which a plain "go test ./..." must not
// download. When asked, anything missing (the go command, the avo module)
// is a failure, not a skip.
func TestGeneratedAsmUpToDate(t *testing.T) {
	if os.Getenv(checkAsmEnv) != "1" {
		t.Skip("regenerates the assembly with avo (downloads it); run with " + checkAsmEnv + "=1, as .ci/run does")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command on PATH")
	}
	dir := filepath.Join(t.TempDir(), "_asm")
	if err := os.CopyFS(dir, os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gobin, "-C", dir, "mod", "download").CombinedOutput(); err != nil {
		t.Fatalf("avo module unavailable: %v\n%s", err, out)
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
