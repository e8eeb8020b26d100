package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
)

// TestSwaggerUIVendored: the Swagger UI files served at /docs are exactly
// the ones go run ./web/internal/swaggerui took from the pinned, checked
// release (MANIFEST), none edited by hand and none missing or extra.
func TestSwaggerUIVendored(t *testing.T) {
	t.Parallel()
	st := Static()
	manifest, err := fs.ReadFile(st, "swagger-ui/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")
	if !strings.HasPrefix(lines[0], "swagger-ui-dist ") || !strings.Contains(lines[0], " sha512-") {
		t.Fatalf("MANIFEST's first line %q names no release and digest", lines[0])
	}
	listed := map[string]bool{"MANIFEST": true}
	for _, l := range lines[1:] {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("MANIFEST line %q", l)
		}
		listed[name] = true
		b, err := fs.ReadFile(st, "swagger-ui/"+name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("swagger-ui/%s differs from the release (run go run ./web/internal/swaggerui)", name)
		}
	}
	entries, err := fs.ReadDir(st, "swagger-ui")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("swagger-ui/%s is not in MANIFEST", e.Name())
		}
	}
	for _, need := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"} {
		if !listed[need] {
			t.Errorf("MANIFEST lacks %s", need)
		}
	}
}
