package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox.db.key")
	if _, err := Load(path, false); !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	a, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	b, err := Load(path, true) // a second start reads the same key
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Derive("audit"), b.Derive("audit")) || a.ID() != b.ID() {
		t.Error("the same file gave different keys")
	}
	if bytes.Equal(a.Derive("audit"), a.Derive("seal")) {
		t.Error("two purposes share a key")
	}
	if bytes.Equal(New().Derive("audit"), New().Derive("audit")) {
		t.Error("two fresh keys are equal")
	}
	os.WriteFile(path, []byte("not hex"), 0o600)
	if _, err := Load(path, true); err == nil {
		t.Error("a corrupt key file was accepted")
	}
}
