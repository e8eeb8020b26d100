// Command swaggerui vendors Swagger UI's browser bundle into
// web/static/swagger-ui, where the API explorer (/docs) serves it from the
// binary: no CDN, no build step. It fetches the pinned swagger-ui-dist
// release with npm, checks it against the registry's integrity digest
// pinned here, copies the two files the page needs and their licences, and
// writes MANIFEST with each file's SHA-256 (web's tests check the committed
// files against it). Run from the repository root:
//
//	go run ./web/internal/swaggerui
//
// To move to another release, change version and integrity (npm view
// swagger-ui-dist@VERSION dist.integrity) and run it again.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

const (
	version   = "5.35.0"
	integrity = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
	out       = "web/static/swagger-ui"
)

// files are what the page loads, and the licences that go with them.
var files = []string{"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"}

func main() {
	log.SetFlags(0)
	tmp, err := os.MkdirTemp("", "swaggerui-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", tmp, "swagger-ui-dist@"+version)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("npm pack swagger-ui-dist@%s: %v", version, err)
	}
	tgz, err := os.ReadFile(filepath.Join(tmp, "swagger-ui-dist-"+version+".tgz"))
	if err != nil {
		log.Fatal(err)
	}
	sum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
		log.Fatalf("swagger-ui-dist@%s is %s, pinned %s: not the release this was written for", version, got, integrity)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(tgz)))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Fatal(err)
	}
	manifest := fmt.Sprintf("swagger-ui-dist %s %s\n", version, integrity)
	found := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "package/")
		if slices.Contains(files, name) {
			if found[name], err = io.ReadAll(tr); err != nil {
				log.Fatal(err)
			}
		}
	}
	for _, name := range files {
		b, ok := found[name]
		if !ok {
			log.Fatalf("%s is not in swagger-ui-dist@%s", name, version)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
		sum := sha256.Sum256(b)
		manifest += hex.EncodeToString(sum[:]) + "  " + name + "\n"
	}
	if err := os.WriteFile(filepath.Join(out, "MANIFEST"), []byte(manifest), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("swagger-ui-dist %s: %d files in %s", version, len(files), out)
}
