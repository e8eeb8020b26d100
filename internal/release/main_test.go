package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPack: an artefact holds the binary (executable, named for its
// platform) and the README under one folder, and SHA256SUMS checks with
// sha256sum -c. (The cross-builds themselves run in CI: go run
// ./internal/release.)
func TestPack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	readme := filepath.Join(dir, "README.md")
	os.WriteFile(bin, []byte("\x7fELF fake"), 0o755)
	os.WriteFile(readme, []byte("# Sandbox\n"), 0o644)
	tgz, err := pack(filepath.Join(dir, "sandbox_1.0_linux_amd64"), bin, false, readme)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(tgz)
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]int64{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got[h.Name] = h.Mode
	}
	f.Close()
	if got["sandbox_1.0_linux_amd64/sandbox"] != 0o755 || got["sandbox_1.0_linux_amd64/README.md"] == 0 || len(got) != 2 {
		t.Fatalf("tar.gz holds %v", got)
	}
	zp, err := pack(filepath.Join(dir, "sandbox_1.0_windows_amd64"), bin, true, readme)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(zp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	if strings.Join(names, ",") != "sandbox_1.0_windows_amd64/README.md,sandbox_1.0_windows_amd64/sandbox.exe" {
		t.Fatalf("zip holds %v", names)
	}
	if err := sums(filepath.Join(dir, "SHA256SUMS"), []string{tgz, zp}); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	}
}
