package e2e

import (
	"context"
	"testing"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestES256TPP is a TPP that signs its JWTs ES256 (FAPI 1.0 Advanced §8.6
// allows it beside PS256): its registration, client assertions and request
// objects are accepted in the dev and FAPI profiles, its payment's
// x-jws-signature is still PS256 by its RSA key, and a client assertion it
// signs PS256 (with its other registered key) is refused: the client
// registered ES256 for them.
func TestES256TPP(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{oauth.ProfileDev, oauth.ProfileFAPI} {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer(), withProfile(profile))
			ctx := context.Background()
			var c *tpp.Client
			if profile == oauth.ProfileFAPI {
				c = s.strictTPP(tpp.WithES256(nil))
			} else {
				var err error
				c, err = tpp.New(ctx, s.url, callback, s.tppKey(), tpp.WithES256(nil), tpp.WithClock(s.app.Clock.Wall))
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Register(ctx, "private_key_jwt"); err != nil {
					t.Fatal(err)
				}
			}
			if c.JWTAlg() != "ES256" {
				t.Fatalf("the TPP signs %s", c.JWTAlg())
			}
			toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var read struct{ Data struct{ Account []any } }
			if err := c.Call(ctx, "GET", c.API()+"/aisp/accounts", "", toks.AccessToken, nil, 200, &read); err != nil || len(read.Data.Account) == 0 {
				t.Errorf("accounts read with the ES256 TPP's token: %v, %d", err, len(read.Data.Account))
			}
			if _, status, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("3.21", payee, "ES256"), nil); err != nil {
				t.Fatal(err)
			} else if status == "" {
				t.Error("the payment has no status")
			}

			// The client registered ES256 for its assertions: one signed
			// PS256 (with its other, registered key) is refused.
			ps := *c
			ps.JWTKey = nil
			if _, err := ps.ClientCredentials(ctx, "accounts"); err == nil {
				t.Error("a PS256 client assertion from a client registered for ES256 was accepted")
			}
		})
	}
}
