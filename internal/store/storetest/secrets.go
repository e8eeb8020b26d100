package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/store"
)

// testSecretsSealed: every secret the store is given is kept sealed — its
// column holds neither the secret nor anything that contains it — and
// reads back as given; a data key rotation re-seals them all under a new
// key and they still read back.
func testSecretsSealed(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	der := []byte("-----private key bytes 0123456789-----")
	secrets := map[string][]byte{
		"signing_keys.private_der/kid-1": der,
		"pki.key_pem/ca":                 []byte("-----BEGIN PRIVATE KEY-----\nca key\n-----END PRIVATE KEY-----\n"),
		"clients.secret/c1":              []byte("client-secret-for-hs256"),
		"settings.value/admin_token":     []byte("admin-token-0123456789"),
		"settings.value/dpop_nonce_key":  []byte("00112233445566778899aabbccddeeff"),
	}
	must(t, s.AddSigningKey(ctx, store.SigningKey{KID: "kid-1", Alg: "PS256", PrivateDER: der, CreatedAt: day0}, day0))
	must(t, s.SavePKIItem(ctx, "ca", []byte("cert"), secrets["pki.key_pem/ca"]))
	must(t, s.CreateClient(ctx, store.Client{ID: "c1", Metadata: []byte("{}"), SecretHash: "h", Secret: "client-secret-for-hs256", CreatedAt: day0}))
	must(t, s.SetSetting(ctx, "admin_token", "admin-token-0123456789"))
	must(t, s.SetSetting(ctx, "dpop_nonce_key", "00112233445566778899aabbccddeeff"))
	must(t, s.SetSetting(ctx, "clock_offset", "1h0m0s")) // not a secret: kept as it is

	check := func(when string) string {
		t.Helper()
		rows, err := s.SealedRows(ctx)
		must(t, err)
		got := map[string]bool{}
		dataKey := ""
		for _, r := range rows {
			name := r.Table + "." + r.Column + "/" + r.Row
			want, ok := secrets[name]
			if !ok {
				continue
			}
			got[name] = true
			if !strings.HasPrefix(r.Sealed, "sealed:v1:") || strings.Contains(r.Sealed, string(want)) {
				t.Errorf("%s: %s holds %q, not a sealed value", when, name, r.Sealed)
			}
			if !bytes.Equal(r.Plain, want) {
				t.Errorf("%s: %s reads %q, want %q", when, name, r.Plain, want)
			}
			id := strings.SplitN(strings.TrimPrefix(r.Sealed, "sealed:v1:"), ":", 2)[0]
			if dataKey != "" && id != dataKey {
				t.Errorf("%s: secrets sealed under two data keys (%s, %s)", when, dataKey, id)
			}
			dataKey = id
		}
		if len(got) != len(secrets) {
			t.Errorf("%s: %d sealed rows listed of %d", when, len(got), len(secrets))
		}
		// What the bank reads through its usual calls.
		keys, err := s.SigningKeys(ctx)
		must(t, err)
		if len(keys) != 1 || !bytes.Equal(keys[0].PrivateDER, der) {
			t.Errorf("%s: signing key reads %v", when, keys)
		}
		c, err := s.Client(ctx, "c1")
		must(t, err)
		if c.Secret != "client-secret-for-hs256" {
			t.Errorf("%s: client secret reads %q", when, c.Secret)
		}
		if v, err := s.Setting(ctx, "admin_token"); err != nil || v != "admin-token-0123456789" {
			t.Errorf("%s: admin token reads %q, %v", when, v, err)
		}
		if v, err := s.Setting(ctx, "clock_offset"); err != nil || v != "1h0m0s" {
			t.Errorf("%s: clock_offset reads %q, %v", when, v, err)
		}
		_, key, err := s.PKIItem(ctx, "ca")
		must(t, err)
		if !bytes.Equal(key, secrets["pki.key_pem/ca"]) {
			t.Errorf("%s: CA key reads %q", when, key)
		}
		return dataKey
	}
	before := check("sealed")
	r, err := s.RotateDataKey(ctx)
	must(t, err)
	after := check("after a rotation")
	if after == before || r.DataKey != after || len(r.Retired) != 1 || r.Retired[0] != before || r.Resealed != len(secrets) {
		t.Errorf("rotation %+v: data key %s -> %s", r, before, after)
	}
}
