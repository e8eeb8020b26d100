package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// knownSecrets are the secrets a test holds after a journey: what it was
// given (client secret, registration token, tokens, codes' products) and
// what it can read from the running bank (its private signing key, the
// admin token, the DPoP nonce key, the PSU's password).
type knownSecrets map[string][]byte

func (k knownSecrets) add(name string, v []byte) {
	if len(v) > 0 {
		k[name] = append([]byte(nil), v...)
	}
}

// scanFiles reports every known secret found in the database file or its
// log (WAL), byte for byte.
func scanFiles(t *testing.T, db string, secrets knownSecrets) {
	t.Helper()
	scanned := 0
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		scanned += len(b)
		for name, v := range secrets {
			if bytes.Contains(b, v) {
				t.Errorf("%s holds the %s", filepath.Base(f), name)
			}
		}
	}
	if scanned == 0 {
		t.Fatal("no database bytes to scan")
	}
}

// TestSecretsAtRest: after full journeys (a client with a secret, account
// access with refresh, a payment, DPoP nonces), a byte scan of the SQLite
// file and its WAL, read by another reader while the sandbox serves, finds
// none of the secrets the test knows. Rotating the data key through the
// admin API re-seals them all: journeys go on working, before and after a
// restart on the same file, and the scan still finds nothing.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	if onPostgres() {
		t.Log("the byte scan reads a SQLite file; the sealing itself runs on PostgreSQL in the store's conformance suite (SecretsSealed)")
		return
	}
	db := filepath.Join(t.TempDir(), "sandbox.db")
	s := start(t, withDB(db), realIssuer())
	ctx := context.Background()
	secrets := knownSecrets{}
	journeys := func(s *sandbox, c *tpp.Client) {
		t.Helper()
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
		fresh, err := c.Refresh(ctx, toks.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, s.get(ais+"/accounts", fresh.AccessToken), 200)
		id, _, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("12.34", payee, "SECRETS"), nil)
		if err != nil || id == "" {
			t.Fatalf("payment: %q, %v", id, err)
		}
		secrets.add("access token", []byte(toks.AccessToken))
		secrets.add("refresh token", []byte(toks.RefreshToken))
		secrets.add("rotated refresh token", []byte(fresh.RefreshToken))
		secrets.add("refreshed access token", []byte(fresh.AccessToken))
	}
	c := s.newTPP("client_secret_basic")
	secrets.add("client secret", []byte(c.ClientSecret))
	secrets.add("registration token", []byte(c.RegistrationToken))
	secrets.add("admin token", []byte(s.app.Config.AdminToken))
	secrets.add("PSU password", []byte("alice123"))
	journeys(s, c)
	if _, err := s.app.Auth.DPoPNonce(ctx); err != nil { // makes the nonce key
		t.Fatal(err)
	}
	nonceKey, err := s.app.Store.Setting(ctx, "dpop_nonce_key")
	if err != nil {
		t.Fatal(err)
	}
	secrets.add("DPoP nonce key (hex)", []byte(nonceKey))
	raw, _ := hex.DecodeString(nonceKey)
	secrets.add("DPoP nonce key", raw)
	addSigningKey := func() {
		_, priv := s.app.Auth.Keys.Signer()
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		secrets.add("bank signing key "+s.app.Auth.Keys.KID(), der)
		secrets.add("bank signing key's private exponent "+s.app.Auth.Keys.KID(), priv.D.Bytes())
	}
	addSigningKey()
	expect(t, s.do(req{method: "POST", path: "/sandbox/keys/rotate", token: s.app.Config.AdminToken}), 200)
	addSigningKey()
	scanFiles(t, db, secrets)

	// The trainer's view: each secret sealed, beside what the bank reads.
	var view struct {
		Secrets []struct {
			Table, Column, Row, Sealed, Reads string
			DataKey                           string `json:"data_key"`
		}
	}
	s.do(req{method: "GET", path: "/sandbox/secrets", token: s.app.Config.AdminToken}).JSON(t, &view)
	var before string
	found := false
	for _, r := range view.Secrets {
		if !strings.HasPrefix(r.Sealed, "sealed:v1:"+r.DataKey+":") {
			t.Errorf("%s.%s/%s listed as %q", r.Table, r.Column, r.Row, r.Sealed)
		}
		before = r.DataKey
		if r.Table == "clients" && r.Row == c.ClientID {
			found = r.Reads == c.ClientSecret
		}
	}
	if !found {
		t.Errorf("the client's sealed secret is not listed with what the bank reads: %+v", view.Secrets)
	}

	// Rotation online, through the admin API: journeys keep working.
	var rot struct {
		DataKey  string `json:"data_key"`
		Retired  []string
		Resealed int
	}
	s.do(req{method: "POST", path: "/sandbox/keys/rotate-data-key", token: s.app.Config.AdminToken}).JSON(t, &rot)
	if rot.DataKey == "" || rot.DataKey == before || len(rot.Retired) != 1 || rot.Retired[0] != before || rot.Resealed < 5 {
		t.Fatalf("rotation %+v (data key before: %s)", rot, before)
	}
	journeys(s, c)
	c2 := s.newTPP("client_secret_basic")
	secrets.add("second client secret", []byte(c2.ClientSecret))
	journeys(s, c2)
	scanFiles(t, db, secrets)
	s.stop()

	// A restart on the same file reads everything the rotation re-sealed.
	s = start(t, withDB(db), realIssuer())
	c.Base, c.HTTP = s.url, s.client // the restart listens on another port: its issuer moved
	if err := c.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	journeys(s, c)
	scanFiles(t, db, secrets)
}

// TestKeyFileStartErrors: a database whose key file is missing or another
// one does not start — with an error naming the key file — and a missing
// key file is not replaced by a new one, so the right one can be restored.
func TestKeyFileStartErrors(t *testing.T) {
	t.Parallel()
	if onPostgres() {
		t.Log("PostgreSQL needs --key-file given: covered by the configuration's checks")
		return
	}
	db := filepath.Join(t.TempDir(), "sandbox.db")
	s := start(t, withDB(db))
	s.stop()
	keyFile := db + ".key"
	good, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	try := func() error {
		cfg := app.Defaults()
		cfg.Addr, cfg.DB, cfg.KeyBits = "127.0.0.1:0", db, 1024
		a, err := app.New(context.Background(), cfg, testLog{t})
		if err == nil {
			a.Close()
		}
		return err
	}
	os.Remove(keyFile)
	err = try()
	if err == nil || !strings.Contains(err.Error(), "key file") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("start without the key file: %v", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("a start without the key file left a new key file in its place")
	}
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	if err := try(); err == nil || !strings.Contains(err.Error(), "not the one this database was started with") {
		t.Errorf("start with another key file: %v", err)
	}
	os.WriteFile(keyFile, good, 0o600)
	if err := try(); err != nil {
		t.Errorf("start with the right key file again: %v", err)
	}
}
