package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
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
	if issuer == "" { // the one the sandbox last serving the file had
		rec, err := recordedServer(ctx, s)
		if err != nil {
			s.Close()
			return nil, err
		}
		issuer = rec.Issuer
	}
	if issuer == "" {
		issuer = DefaultURL
		if oauth.Strict(profile) {
			issuer = "https://" + strings.TrimPrefix(DefaultURL, "http://")
		}
	}
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
	fs.StringVar(&cfg.Issuer, "issuer", "", "the sandbox's issuer, its public base URL (default: the one the sandbox last serving the file had)")
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
	client := map[string]any{
		"client_id": reg.ClientID, "token_endpoint_auth_method": reg.TokenEndpointAuthMethod,
		"registration_access_token": reg.RegistrationAccessToken, "registration_client_uri": reg.RegistrationClientURI,
		"issuer": o.auth.Issuer, "token_endpoint": o.auth.Issuer + oauth.PathToken, "kid": jwk.KeyID,
		"private_key_pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"jwks":            jwks, "software_statement": signed, "redirect_uris": reg.RedirectURIs,
	}
	if reg.ClientSecret != "" { // client_secret_basic (dev) only
		client["client_secret"] = reg.ClientSecret
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(client)
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

// runKeysRotateData re-seals every secret at rest under a new data key and
// deletes the old one: through the running sandbox (POST
// /sandbox/keys/rotate-data-key) with an admin token, else on a file no
// sandbox serves.
func runKeysRotateData(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs, cfg := offlineFlags("sandbox keys rotate-data-key", errOut)
	base := fs.String("sandbox", cmpOr(os.Getenv("SANDBOX_URL"), DefaultURL), "with --admin-token: the running sandbox's base URL (SANDBOX_URL)")
	token := fs.String("admin-token", "", "the running sandbox's admin token (SANDBOX_ADMIN_TOKEN): rotate through it, online")
	ca := fs.String("ca", "", "PEM file of the CA to trust over TLS (default: the sandbox's own)")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox keys rotate-data-key --admin-token TOKEN [--sandbox URL]   (a running sandbox, online)\n"+
			"       sandbox keys rotate-data-key [--db FILE] [--key-file FILE]           (a file no sandbox serves)\n\n"+
			"Makes a new data key, re-seals every secret at rest under it and deletes the old one.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	var got store.DataKeyRotation
	where := ""
	if *token != "" {
		hc, err := tppHTTP(ctx, strings.TrimRight(*base, "/"), *ca)
		if err != nil {
			return err
		}
		r := &remote{base: strings.TrimRight(*base, "/"), token: *token, hc: hc, out: io.Discard}
		b, err := r.call(ctx, http.MethodPost, "/sandbox/keys/rotate-data-key", nil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &got); err != nil {
			return err
		}
		where = r.base
	} else {
		s, err := openStore(ctx, cfg, false)
		if err != nil {
			return fmt.Errorf("%w\nif a sandbox is running on it, rotate through it: sandbox keys rotate-data-key --admin-token TOKEN --sandbox URL", err)
		}
		defer s.Close()
		if got, err = s.RotateDataKey(ctx); err != nil {
			return err
		}
		where = cfg.DB
	}
	fmt.Fprintf(out, "%d secrets of %s re-sealed under data key %s (wrapped by key %s); deleted: %s\n", got.Resealed, where, got.DataKey,
		got.Wrapper, strings.Join(got.Retired, ", "))
	return nil
}

// runKeysRotate makes a new bank signing key; the old ones keep verifying
// until their tokens expire, and JWKS serves them all. A running sandbox
// holds its keys in memory, so a key made in its file would not be served
// until it restarts: with an admin token the command rotates through the
// sandbox (POST /sandbox/keys/rotate), which serves the new key at once;
// without one it works on the file, and refuses when a sandbox serves it.
func runKeysRotate(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs, cfg := offlineFlags("sandbox keys rotate", errOut)
	base := fs.String("sandbox", cmpOr(os.Getenv("SANDBOX_URL"), DefaultURL), "with --admin-token: the running sandbox's base URL (SANDBOX_URL)")
	token := fs.String("admin-token", "", "the running sandbox's admin token (SANDBOX_ADMIN_TOKEN): rotate through it")
	ca := fs.String("ca", "", "PEM file of the CA to trust over TLS (default: the sandbox's own)")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox keys rotate --admin-token TOKEN [--sandbox URL]   (a running sandbox)\n       sandbox keys rotate [--db FILE]                              (a file no sandbox serves)\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *token != "" {
		hc, err := tppHTTP(ctx, strings.TrimRight(*base, "/"), *ca)
		if err != nil {
			return err
		}
		r := &remote{base: strings.TrimRight(*base, "/"), token: *token, hc: hc, out: io.Discard}
		b, err := r.call(ctx, http.MethodPost, "/sandbox/keys/rotate", nil)
		if err != nil {
			return err
		}
		var got struct{ KID string }
		if err := json.Unmarshal(b, &got); err != nil {
			return err
		}
		fmt.Fprintf(out, "new signing key %s, served by %s now\n", got.KID, r.base)
		return nil
	}
	o, err := openOffline(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w\nif a sandbox is running on it, rotate through it: sandbox keys rotate --admin-token TOKEN --sandbox URL", err)
	}
	defer o.store.Close()
	if url := servedBy(ctx, o); url != "" {
		return fmt.Errorf("the sandbox at %s serves %s and keeps its keys in memory: a key made in the file would not be served until it restarts.\n"+
			"Rotate through it: sandbox keys rotate --sandbox %s --admin-token TOKEN (the token it printed at start-up)", url, cfg.DB, url)
	}
	if err := oauth.RotateKeys(ctx, o.store, o.auth.Clock.Now()); err != nil {
		return err
	}
	if err := o.auth.Keys.Reload(ctx, o.store); err != nil {
		return err
	}
	fmt.Fprintf(out, "new signing key %s, served from the next start on %s\n", o.auth.Keys.KID(), cfg.DB)
	return nil
}

// servedBy is the URL of a running sandbox serving o's file, or "": the
// sandbox last recorded there answers with keys of this file.
func servedBy(ctx context.Context, o *offline) string {
	rec, err := recordedServer(ctx, o.store)
	if err != nil || rec.URL == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Only public key ids are compared: no trust in the answer is needed.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rec.URL+oauth.PathJWKS, nil)
	if err != nil {
		return ""
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var served jose.JSONWebKeySet
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&served) != nil {
		return ""
	}
	mine := o.auth.Keys.JWKS()
	for _, k := range served.Keys {
		if len(mine.Key(k.KeyID)) > 0 {
			return rec.URL
		}
	}
	return ""
}

// runPSUs lists the test PSUs of a database.
func runPSUs(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) > 0 && (args[0] == "add" || args[0] == "delete") {
		return runPSUsRemote(ctx, args, out, errOut)
	}
	fs, cfg := offlineFlags("sandbox psus", errOut)
	fs.StringVar(&cfg.FixturesDir, "fixtures", "", "the persona files the database was seeded with (their passwords are listed from them)")
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
	f, err := fixtures.Load()
	if err != nil {
		return err
	}
	personas := f.PSUs
	if cfg.FixturesDir != "" {
		extra, err := fixtures.LoadDir(cfg.FixturesDir, f, cfg.SeedDate)
		if err != nil {
			return err
		}
		personas = slices.Concat(personas, extra)
	}
	cred := seed.Credentials(personas)
	for _, p := range psus {
		pw := ""
		if p.PasswordHash == "" {
			pw, _ = cred(p.Username)
		}
		fmt.Fprintf(out, "%-10s %-12s", p.Username, pw)
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
		return errors.New("usage: sandbox certs ca [--db FILE] | sandbox certs issue --cn NAME [--org ORG] [--roles PSP_AI,PSP_PI] [--org-id ID] [--signing] [--expired] [--revoked] [--out DIR]")
	}
	fs, cfg := offlineFlags("sandbox certs "+args[0], errOut)
	cn := fs.String("cn", "", "issue: the certificate's common name (e.g. your software id)")
	org := fs.String("org", "", "issue: the organisation")
	signing := fs.Bool("signing", false, "issue: a signing certificate rather than a transport (mutual TLS) one")
	expired := fs.Bool("expired", false, "issue: one that has already expired, to test failure")
	revoked := fs.Bool("revoked", false, "issue: one revoked at once, to test failure")
	roles := fs.String("roles", "", "issue: a PSD2 QWAC (Berlin Group) with these roles, comma-separated: PSP_AS, PSP_PI, PSP_AI, PSP_IC")
	orgID := fs.String("org-id", "", "issue: with --roles, the organisation identifier (default: one the sandbox assigns, PSDGB-SBX-...)")
	dir := fs.String("out", "sandbox-certs", "issue: folder for NAME.pem and NAME.key (made if missing; the repository's .gitignore leaves sandbox-certs/ out)")
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
	var psd2 []string
	if *roles != "" {
		psd2 = strings.Split(*roles, ",")
	}
	is, err := ca.Issue(ctx, pki.Request{CommonName: *cn, Organisation: *org, Signing: *signing, Expired: *expired, Revoked: *revoked,
		Roles: psd2, OrgID: *orgID}, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	name := fileName(*cn)
	certFile, keyFile := filepath.Join(*dir, name+".pem"), filepath.Join(*dir, name+".key")
	if err := os.WriteFile(certFile, is.CertPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, is.KeyPEM, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s\nsubject (tls_client_auth_subject_dn): %s\nx5t#S256: %s\nserial: %s, valid until %s\n",
		certFile, keyFile, is.SubjectDN, is.X5tS256, is.Serial, is.NotAfter.Format(time.RFC3339))
	if is.OrgID != "" {
		fmt.Fprintf(out, "PSD2 QWAC of %s with roles %s\n", is.OrgID, strings.Join(psd2, ", "))
	}
	return nil
}

// fileName makes a common name safe as a file name: letters, digits, dot,
// dash and underscore stay, anything else becomes a dash.
func fileName(cn string) string {
	b := []byte(cn)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if s := strings.Trim(string(b), "."); s != "" {
		return s
	}
	return "tpp"
}
