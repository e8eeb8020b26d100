package secret

import (
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("alice123")
	if err != nil {
		t.Fatal(err)
	}
	if !IsHash(h) || strings.Contains(h, "alice123") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := CheckPassword(h, "alice123"); !ok || err != nil {
		t.Errorf("the right password: %v, %v", ok, err)
	}
	if ok, _ := CheckPassword(h, "alice124"); ok {
		t.Error("a wrong password accepted")
	}
	h2, _ := HashPassword("alice123")
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if _, err := CheckPassword("alice123", "alice123"); err == nil {
		t.Error("a password taken for a hash")
	}
}
