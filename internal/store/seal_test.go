package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/secret"
)

// TestSealOnOpen: a database written before secrets were sealed (its
// secrets and PSU passwords in the clear) is sealed when it is opened: no
// byte of those secrets stays in the file or its log, the bank reads them
// as before, a fixture PSU's password is dropped (the fixtures list it) and
// another's is kept as an argon2id hash. The same file under another key is
// refused at open.
func TestSealOnOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "legacy.db")
	key := keyring.FromBytes(bytes.Repeat([]byte{7}, keyring.Size))
	s, err := Open(ctx, path, Options{Key: key, Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	plain := []string{"LEGACY-PRIVATE-KEY-DER-0123456789", "LEGACY-CA-KEY-PEM-0123456789", "legacy-client-secret-0123456789",
		"legacy-admin-token-0123456789", "legacy-notification-token-0123", "runtime-password-xyz"}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`INSERT INTO signing_keys(kid, alg, private_der, created_at) VALUES('k1', 'PS256', CAST('` + plain[0] + `' AS BLOB), 1)`,
			`INSERT INTO pki(name, cert_pem, key_pem) VALUES('ca', 'cert', CAST('` + plain[1] + `' AS BLOB))`,
			`INSERT INTO clients(client_id, metadata, secret_hash, secret, registration_hash, created_at) VALUES('c1', '{}', 'h', '` + plain[2] + `', 'r', 1)`,
			`INSERT INTO settings(key, value) VALUES('admin_token', '` + plain[3] + `')`,
			`INSERT INTO ciba_requests(auth_req_id, handle, client_id, consent_id, psu, scope, mode, notification_token, status, interval_s,
				created_at, expires_at) VALUES('req1', 'h1', 'c1', 'aac-1', 'alice', 'openid', 'ping', '` + plain[4] + `', 'pending', 5, 1, 2)`,
			`INSERT INTO parties(id, party_id, number, type, name, legal_name, email, phone, mobile, business, address)
				VALUES(1, 'p1', '1', 'Sole', 'A', 'A', '', '', '', 0, '{}')`,
			`INSERT INTO psus(id, username, password_hash, party) VALUES(1, 'alice', 'alice123', 1), (2, 'zoe', '` + plain[5] + `', 1)`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	seeded := func(u string) (string, bool) { return "alice123", u == "alice" }
	s, err = Open(ctx, path, Options{Key: key, Sync: SyncNormal, Seeded: seeded})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || string(keys[0].PrivateDER) != plain[0] {
		t.Fatalf("the signing key reads %v, %v", keys, err)
	}
	if c, err := s.Client(ctx, "c1"); err != nil || c.Secret != plain[2] {
		t.Errorf("the client secret reads %q, %v", c.Secret, err)
	}
	if v, err := s.Setting(ctx, "admin_token"); err != nil || v != plain[3] {
		t.Errorf("the admin token reads %q, %v", v, err)
	}
	if r, err := s.CIBA(ctx, "req1"); err != nil || r.NotificationToken != plain[4] {
		t.Errorf("the notification token reads %q, %v", r.NotificationToken, err)
	}
	psus, err := s.PSUs(ctx)
	if err != nil || len(psus) != 2 {
		t.Fatalf("psus %v, %v", psus, err)
	}
	if psus[0].PasswordHash != "" {
		t.Errorf("alice's fixture password is kept as %q, want ''", psus[0].PasswordHash)
	}
	if ok, err := secret.CheckPassword(psus[1].PasswordHash, plain[5]); !ok || err != nil {
		t.Errorf("zoe's password hash %q does not check: %v", psus[1].PasswordHash, err)
	}
	s.Close()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append(plain, "alice123") {
			if bytes.Contains(b, []byte(p)) {
				t.Errorf("%s still holds %q", filepath.Base(f), p)
			}
		}
	}

	other := keyring.FromBytes(bytes.Repeat([]byte{8}, keyring.Size))
	if _, err := Open(ctx, path, Options{Key: other}); !errors.Is(err, ErrAuditKey) && !errors.Is(err, ErrDataKey) {
		t.Errorf("opened under another key: %v", err)
	}
}

// TestSealedValueBoundToRow: a sealed value copied to another row or
// column does not open.
func TestSealedValueBoundToRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Memory, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"c1", "c2"} {
		if err := s.CreateClient(ctx, Client{ID: id, Metadata: []byte("{}"), Secret: "secret-of-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "UPDATE clients SET secret = (SELECT secret FROM clients WHERE client_id = 'c1') WHERE client_id = 'c2'"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Client(ctx, "c2"); err == nil || strings.Contains(c.Secret, "c1") {
		t.Errorf("c1's sealed secret opened as c2's: %q, %v", c.Secret, err)
	}
}
