package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
)

// offline opens a sandbox's database without serving it, for the CLI
// commands that change it directly: a server serving the file holds its
// lock, and they are refused (the HTTP API does the same through it).
type offline struct {
	store *store.Store
	auth  *oauth.Server
}

func openOffline(ctx context.Context, cfg *Config) (*offline, error) {
	s, err := openStore(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	issuer, profile := cfg.Issuer, cfg.Profile
	clk := clock.New(nil)
	keys, err := oauth.LoadKeys(ctx, s, clk.Now())
	if err != nil {
		s.Close()
		return nil, err
	}
	return &offline{store: s, auth: &oauth.Server{Store: s, Clock: clk, Keys: keys, Issuer: strings.TrimRight(issuer, "/"),
		Profile: profile, Log: slog.New(slog.DiscardHandler)}}, nil
}

func offlineFlags(name string, errOut io.Writer) (*flag.FlagSet, *Config) {
	cfg := Defaults()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.DB, "db", cfg.DB, "the sandbox's database file")
	fs.StringVar(&cfg.Issuer, "issuer", "http://127.0.0.1:8080", "the sandbox's issuer (its public base URL)")
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "the profile the sandbox runs in: dev or fapi")
	fs.StringVar(&cfg.KeyFile, "key-file", cfg.KeyFile, "the sandbox's key file (default: the database's path plus .key)")
	return fs, &cfg
}

// runClientCreate registers a client offline, as the directory and the bank
// together: it makes a key pair, a software statement and the registration,
// and prints everything a TPP needs.
func runClientCreate(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs, cfg := offlineFlags("sandbox client create", errOut)
	var redirects multi
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable; https, or http://localhost in dev)")
	name := fs.String("name", "My TPP", "the client's name, shown to the PSU")
	auth := fs.String("auth", oauth.AuthPrivateKeyJWT, "token endpoint authentication: private_key_jwt, or client_secret_basic (dev)")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox client create --redirect-uri URI [--name NAME] [--db FILE]\n\nRegisters a client and prints its id, keys, software statement and registration token as JSON.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(redirects) == 0 {
		fs.Usage()
		return errors.New("--redirect-uri is required")
	}
	o, err := openOffline(ctx, cfg)
	if err != nil {
		return err
	}
	defer o.store.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: "PS256", Use: "sig"}
	jwk.KeyID = oauth.Thumbprint(jwk)
	jwks := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}}
	ssa := oauth.SoftwareStatement{SoftwareClientName: *name, SoftwareRedirectURIs: redirects, SoftwareRoles: []string{"AISP", "PISP", "CBPII"},
		SoftwareJWKS: jwks, OrgName: *name + " Ltd"}
	signed, err := o.auth.IssueSoftwareStatement(ssa)
	if err != nil {
		return err
	}
	var claims oauth.SoftwareStatement
	if err := json.Unmarshal(jwtPayload(signed), &claims); err != nil {
		return err
	}
	reg, err := o.auth.Register(ctx, oauth.Metadata{ClientName: *name, RedirectURIs: redirects, TokenEndpointAuthMethod: *auth,
		JWKS: jwks, RequestObjectSigningAlg: "PS256", SoftwareID: claims.SoftwareID, OrgID: claims.OrgID, SoftwareRoles: claims.SoftwareRoles,
		SoftwareStatement: signed})
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"client_id": reg.ClientID, "client_secret": reg.ClientSecret, "token_endpoint_auth_method": reg.TokenEndpointAuthMethod,
		"registration_access_token": reg.RegistrationAccessToken, "registration_client_uri": reg.RegistrationClientURI,
		"issuer": cfg.Issuer, "token_endpoint": cfg.Issuer + oauth.PathToken, "kid": jwk.KeyID,
		"private_key_pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"jwks":            jwks, "software_statement": signed, "redirect_uris": reg.RedirectURIs,
	})
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func jwtPayload(tok string) []byte {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, _ := decodeSegment(parts[1])
	return b
}

// runKeysRotate makes a new bank signing key; the old one keeps verifying
// until its tokens expire, and JWKS serves both. A running server picks the
// new key up at its next start.
func runKeysRotate(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs, cfg := offlineFlags("sandbox keys rotate", errOut)
	if err := parse(fs, args); err != nil {
		return err
	}
	o, err := openOffline(ctx, cfg)
	if err != nil {
		return err
	}
	defer o.store.Close()
	if err := oauth.RotateKeys(ctx, o.store, o.auth.Clock.Now()); err != nil {
		return err
	}
	if err := o.auth.Keys.Reload(ctx, o.store); err != nil {
		return err
	}
	fmt.Fprintln(out, "new signing key", o.auth.Keys.KID())
	return nil
}

// runPSUs lists the test PSUs of a database.
func runPSUs(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs, cfg := offlineFlags("sandbox psus", errOut)
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer s.Close()
	psus, err := s.PSUs(ctx)
	if err != nil {
		return err
	}
	for _, p := range psus {
		fmt.Fprintf(out, "%-10s %-12s", p.Username, p.Password)
		for _, a := range p.Accounts {
			fmt.Fprintf(out, " %s(%s %s)", a.ID, a.SubType, a.Currency)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// runAudit is `sandbox audit verify|export`: checks the keyed hash chains of
// a database's audit trail and security events (exit 1 when broken), also
// against a head saved earlier, or writes the trail as JSON lines. It reads
// the file as it is, while a server may be serving it.
func runAudit(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return errors.New("usage: sandbox audit verify [--db FILE] [--head FILE] | sandbox audit export [--db FILE] [--after N]")
	}
	fs, cfg := offlineFlags("sandbox audit "+args[0], errOut)
	after := fs.Int64("after", 0, "export: entries after this sequence number")
	headFile := fs.String("head", "", "verify: a head saved earlier (GET /sandbox/audit/head); default: the one the server keeps beside the database, if any")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "verify" {
		if _, err := loadKey(cfg, false); err != nil {
			return err
		}
	}
	s, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if args[0] == "export" {
		return s.ExportAudit(ctx, out, *after)
	}
	var head *store.Head
	path := *headFile
	if path == "" && cfg.DB != store.Memory {
		if _, err := os.Stat(headPath(cfg.DB)); err == nil {
			path = headPath(cfg.DB)
		}
	}
	if path != "" {
		h, err := audit.ReadHead(path)
		if err != nil {
			return err
		}
		keys := &oauth.Keys{}
		if err := keys.Reload(ctx, s); err != nil {
			return err
		}
		if err := h.Verify(keys.Public); err != nil {
			return fmt.Errorf("audit head %s: %w", path, err)
		}
		head = &h.Head
		fmt.Fprintf(out, "checking against the head in %s (%d entries, saved %s)\n", path, h.Count, h.At.Format(time.RFC3339))
	}
	r, err := s.VerifyAudit(ctx, head)
	if err != nil {
		return fmt.Errorf("audit trail BROKEN: %w (%d audit entries and %d security events checked before it)", err, r.Audit.Entries, r.Events.Entries)
	}
	fmt.Fprintf(out, "audit trail intact: %d entries (after entry %d, %s) and %d security events, keyed hash chains verified\n",
		r.Audit.Entries, r.Audit.From, r.Audit.Reason, r.Events.Entries)
	return nil
}

// runCerts is `sandbox certs ca|issue`: exports the development CA's root
// (clients trust it) or issues a TPP certificate and key into a folder.
func runCerts(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || (args[0] != "ca" && args[0] != "issue") {
		return errors.New("usage: sandbox certs ca [--db FILE] | sandbox certs issue --cn NAME [--org ORG] [--signing] [--expired] [--revoked] [--out DIR]")
	}
	fs, cfg := offlineFlags("sandbox certs "+args[0], errOut)
	cn := fs.String("cn", "", "issue: the certificate's common name (e.g. your software id)")
	org := fs.String("org", "", "issue: the organisation")
	signing := fs.Bool("signing", false, "issue: a signing certificate rather than a transport (mutual TLS) one")
	expired := fs.Bool("expired", false, "issue: one that has already expired, to test failure")
	revoked := fs.Bool("revoked", false, "issue: one revoked at once, to test failure")
	dir := fs.String("out", ".", "issue: folder for cert.pem and key.pem")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, args[0] == "ca")
	if err != nil {
		return err
	}
	defer s.Close()
	ca, err := pki.Load(ctx, s, time.Now())
	if err != nil {
		return err
	}
	if args[0] == "ca" {
		_, err := out.Write(ca.CertPEM)
		return err
	}
	if *cn == "" {
		return errors.New("--cn is required")
	}
	is, err := ca.Issue(ctx, pki.Request{CommonName: *cn, Organisation: *org, Signing: *signing, Expired: *expired, Revoked: *revoked}, time.Now())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "cert.pem"), is.CertPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "key.pem"), is.KeyPEM, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s\nsubject (tls_client_auth_subject_dn): %s\nx5t#S256: %s\nserial: %s, valid until %s\n",
		filepath.Join(*dir, "cert.pem"), filepath.Join(*dir, "key.pem"), is.SubjectDN, is.X5tS256, is.Serial, is.NotAfter.Format(time.RFC3339))
	return nil
}
