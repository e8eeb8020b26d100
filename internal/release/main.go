// Command release builds the sandbox's release artefacts: one static binary
// per platform (CGO_ENABLED=0, the same build as the container image's),
// each packed with the README — .tar.gz for Linux and macOS, .zip for
// Windows — and SHA256SUMS over them. CI builds them on every change;
// nothing is published from here. From the repository root:
//
//	go run ./internal/release --version v1.2.3            # into dist/
//	make release VERSION=v1.2.3                           # the same
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Platforms are the platforms a release is built for.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

func main() {
	log.SetFlags(0)
	out := flag.String("out", "dist", "where the artefacts go")
	version := flag.String("version", "dev", "the version the binaries report (sandbox version)")
	platforms := flag.String("platforms", strings.Join(Platforms, ","), "comma-separated GOOS/GOARCH pairs")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	var artefacts []string
	for _, p := range strings.Split(*platforms, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			log.Fatalf("--platforms: %q is not GOOS/GOARCH", p)
		}
		t0 := time.Now()
		bin, err := build(goos, goarch, *version, *out)
		if err != nil {
			log.Fatalf("%s/%s: %v", goos, goarch, err)
		}
		name := fmt.Sprintf("sandbox_%s_%s_%s", strings.TrimPrefix(*version, "v"), goos, goarch)
		archive, err := pack(filepath.Join(*out, name), bin, goos == "windows", "README.md")
		os.Remove(bin)
		if err != nil {
			log.Fatalf("%s/%s: %v", goos, goarch, err)
		}
		st, _ := os.Stat(archive)
		log.Printf("%-40s %6.1f MB  (%s)", filepath.Base(archive), float64(st.Size())/1e6, time.Since(t0).Round(time.Second))
		artefacts = append(artefacts, archive)
	}
	if err := sums(filepath.Join(*out, "SHA256SUMS"), artefacts); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d artefacts and SHA256SUMS in %s", len(artefacts), *out)
}

// build compiles cmd/sandbox for one platform into dir.
func build(goos, goarch, version, dir string) (string, error) {
	bin := filepath.Join(dir, "sandbox-"+goos+"-"+goarch)
	if goos == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-s -w -X github.com/obsandbox/sandbox/internal/app.Version="+version, "-o", bin, "./cmd/sandbox")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

// pack writes base.tar.gz (or base.zip) holding the binary as sandbox (or
// sandbox.exe) and the extra files, under a folder named after base.
func pack(base, bin string, windows bool, extra ...string) (string, error) {
	dir := filepath.Base(base)
	files := map[string]string{dir + "/sandbox": bin}
	if windows {
		files = map[string]string{dir + "/sandbox.exe": bin}
	}
	for _, f := range extra {
		files[dir+"/"+filepath.Base(f)] = f
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // the same bytes for the same build
	if windows {
		path := base + ".zip"
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		zw := zip.NewWriter(f)
		for _, n := range names {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: mtime})
			if err != nil {
				return "", err
			}
			if err := copyFile(w, files[n]); err != nil {
				return "", err
			}
		}
		return path, zw.Close()
	}
	path := base + ".tar.gz"
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		st, err := os.Stat(files[n])
		if err != nil {
			return "", err
		}
		mode := int64(0o644)
		if strings.HasSuffix(n, "/sandbox") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: st.Size(), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return "", err
		}
		if err := copyFile(tw, files[n]); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return path, gz.Close()
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// sums writes SHA256SUMS in sha256sum's format (sha256sum -c checks it).
func sums(path string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), filepath.Base(f))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
