package oauth

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/store"
)

// benchAS is an authorization server on a temporary database with one
// client, one authorised account-access consent and a token bound to it,
// built once for every benchmark of the package.
var benchAS struct {
	once  sync.Once
	err   error
	srv   *Server
	token string
	dir   string
}

func benchServer(b *testing.B) (*Server, string) {
	b.Helper()
	benchAS.once.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "oauth-bench-")
		if err != nil {
			benchAS.err = err
			return
		}
		benchAS.dir = dir
		st, err := store.Open(ctx, filepath.Join(dir, "bench.db"), store.Options{})
		if err != nil {
			benchAS.err = err
			return
		}
		clk := clock.New(nil)
		keys, err := LoadKeysBits(ctx, st, clk.Now(), KeyBits) // the production key size: verification cost depends on it
		if err != nil {
			benchAS.err = err
			return
		}
		s := &Server{Store: st, Clock: clk, Keys: keys, Issuer: "http://127.0.0.1:8080", Profile: ProfileDev, AccessTTL: time.Hour}
		if err := st.CreateClient(ctx, store.Client{ID: "bench-client", Metadata: []byte("{}"), CreatedAt: clk.Now()}); err != nil {
			benchAS.err = err
			return
		}
		c, err := bank.NewAccountAccessConsent("aac-bench", "bench-client",
			bank.AccountAccessRequest{Permissions: []string{"ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail", "ReadTransactionsCredits", "ReadTransactionsDebits"}}, clk.Now())
		if err != nil {
			benchAS.err = err
			return
		}
		if err := st.CreateConsent(ctx, c); err != nil {
			benchAS.err = err
			return
		}
		cn, err := st.UpdateConsent(ctx, c.ID, func(c *bank.Consent) error {
			c.Status, c.PSU, c.Accounts, c.StatusAt = bank.StatusAuthorised, "alice", []string{"acc-1", "acc-2", "acc-3"}, clk.Now()
			return nil
		})
		if err != nil {
			benchAS.err = err
			return
		}
		iss, err := s.IssueAccess(ctx, TokenRequest{ClientID: "bench-client", Scope: ScopeAccounts, GrantType: GrantAuthorizationCode, Consent: &cn, PSU: "alice"})
		if err != nil {
			benchAS.err = err
			return
		}
		benchAS.srv, benchAS.token = s, iss.Token
	})
	if benchAS.err != nil {
		b.Fatal(benchAS.err)
	}
	return benchAS.srv, benchAS.token
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchAS.srv != nil {
		benchAS.srv.Store.Close()
	}
	if benchAS.dir != "" {
		os.RemoveAll(benchAS.dir)
	}
	os.Exit(code)
}

// BenchmarkParseAccess is the signature and claims check of an access token
// seen before (remembered until it expires).
func BenchmarkParseAccess(b *testing.B) {
	s, tok := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.parseAccess(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccessFirstUse is the same for a token not seen before: the
// PS256 verification with the bank's 2048-bit key and the claims checks.
func BenchmarkParseAccessFirstUse(b *testing.B) {
	s, tok := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		s.verified = verifiedTokens{}
		if _, err := s.parseAccess(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is token verification as every resource call does
// it: the JWT, then the token, client and consent rows in the database.
func BenchmarkAuthenticate(b *testing.B) {
	s, tok := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.Authenticate(ctx, tok, "")
		if err != nil || p.Consent == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateParallel is the same from every core at once (the
// read pool under contention).
func BenchmarkAuthenticateParallel(b *testing.B) {
	s, tok := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, tok, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkIssueAccess is what the token endpoint does after client
// authentication: sign an access token (PS256) and record it.
func BenchmarkIssueAccess(b *testing.B) {
	s, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.IssueAccess(ctx, TokenRequest{ClientID: "bench-client", Scope: ScopeAccounts, GrantType: GrantClientCredentials}); err != nil {
			b.Fatal(err)
		}
	}
}
