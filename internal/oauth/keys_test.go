package oauth

import (
	"testing"
)

// TestSpareKeysAreEachNew: the keys made ahead are each given once — no two
// banks share a signing key — and are the bank's size.
func TestSpareKeysAreEachNew(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 6 {
		k, err := generateKey(KeyBits)
		if err != nil {
			t.Fatal(err)
		}
		if k.N.BitLen() != KeyBits {
			t.Fatalf("a %d-bit key, want %d", k.N.BitLen(), KeyBits)
		}
		if n := k.N.String(); seen[n] {
			t.Fatal("the same key was given twice")
		} else {
			seen[n] = true
		}
	}
}
