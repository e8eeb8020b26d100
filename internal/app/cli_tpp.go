package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// runTPP is `sandbox tpp accounts|pay|vrp`: a reference TPP against any
// sandbox. It registers a client, creates the consent, has the PSU approve it
// (headlessly through POST /sandbox/psu/authorize, or with --browser in a
// real browser, the TPP waiting at its redirect URI), exchanges the code,
// reads or pays (once, or variable recurring payments under a mandate),
// and optionally revokes — printing each HTTP exchange on stderr and the
// result as JSON on stdout.
func runTPP(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || (args[0] != "accounts" && args[0] != "pay" && args[0] != "vrp") {
		fmt.Fprint(errOut, tppUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return errors.New("say which journey: sandbox tpp accounts | sandbox tpp pay | sandbox tpp vrp")
	}
	fs := flag.NewFlagSet("sandbox tpp "+args[0], flag.ContinueOnError)
	fs.SetOutput(errOut)
	base := fs.String("sandbox", cmpOr(os.Getenv("SANDBOX_URL"), DefaultURL), "the sandbox's base URL, its issuer (SANDBOX_URL; a tenant's too: "+DefaultURL+"/t/job-42)")
	psu := fs.String("psu", "alice", "the test PSU who approves")
	password := fs.String("password", "", "the PSU's password (default: from GET /sandbox/psus with --admin-token, else <psu>123)")
	adminFlag := secretFlag(fs, "admin-token", "SANDBOX_ADMIN_TOKEN", "the sandbox's admin `token` (SANDBOX_ADMIN_TOKEN; needed in fapi, for a certificate and a software statement)")
	caFile := fs.String("ca", "", "PEM file of the CA to trust over TLS (default: the sandbox's, fetched from /sandbox/certs/ca.pem)")
	quiet := fs.Bool("quiet", false, "do not print the HTTP exchanges")
	redirect := fs.String("redirect-uri", "", "the redirect URI to register (default: "+devRedirect+" in dev, "+fapiRedirect+" in fapi, which refuses localhost); with --browser the TPP listens there")
	browser := fs.Bool("browser", false, "the PSU approves in a browser (dev): print the URL to open and wait at the redirect URI")
	wait := fs.Duration("wait", 5*time.Minute, "with --browser: how long the authorization URL is good for, and so how long the TPP waits (at most 60m)")
	scenario := fs.String("scenario", "", "send x-sandbox-scenario with every request (dev profile): e.g. psu-denies, short-pages")
	version := fs.String("version", "3.1", "the UK OB version to call: 3.1 (v3.1.11) or 4.0")
	wantProfile := fs.String("profile", "", "the profile the sandbox must run: dev, fapi or fapi2 (default: whatever its discovery shows)")
	binding := fs.String("binding", "dpop", "fapi2: what tokens are bound to, dpop (RFC 9449) or mtls (the TPP's certificate, RFC 8705)")
	ciba := fs.Bool("ciba", false, "decoupled authentication (CIBA, poll mode): the PSU approves on their phone — headlessly, or with --browser on the bank's pages at /psu/apps")
	standard := fs.String("standard", "uk", "the standard to call: uk (UK Open Banking, --version) or berlin-group (NextGenPSD2 1.3.12 under /psd2/v1, with a QWAC from the sandbox: needs the admin token)")
	scaApproach := fs.String("sca", "redirect", "berlin-group: the SCA approach the TPP prefers: redirect, decoupled or embedded")
	toIBAN := fs.String("to-iban", berlinPayee, "berlin-group pay: the payee's IBAN")
	var read, amount, sortCode, number, name, ref *string
	var revoke *bool
	var vrp *vrpFlags
	var intl *intlFlags
	var payFile *string
	if args[0] == "accounts" {
		read = fs.String("read", "accounts", "what to read, comma-separated: accounts, balances, transactions")
		revoke = fs.Bool("revoke", false, "delete the consent afterwards and show that the token stops working")
	} else {
		if args[0] == "vrp" {
			vrp = vrpFlagsOf(fs)
		}
		amount = fs.String("amount", "10.00", "the amount in GBP (vrp: of each payment)")
		sortCode = fs.String("to-sort-code", "200415", "the payee's sort code")
		number = fs.String("to-account", "33104477", "the payee's account number")
		name = fs.String("to-name", "Greenfield Lettings", "the payee's name")
		ref = fs.String("reference", "SANDBOX TPP", "the payment reference")
		if args[0] == "pay" {
			intl = intlFlagsOf(fs)
			payFile = fs.String("file", "", "pay a payment file: the standard's JSON file of the --version ({\"Data\":{\"DomesticPayments\":[...]}}) or a pain.001.001.08 XML file; the TPP reads its count and total, uploads it and prints the report file")
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(errOut, "Usage: sandbox tpp %s [flags]\n\n%s\nFlags:\n", args[0], tppAbout)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (sandbox tpp %s --help lists the flags)", fs.Arg(0), args[0])
	}
	admin := new(adminFlag.Value())
	var reads []string
	if read != nil {
		reads = strings.Split(*read, ",")
		for _, r := range reads {
			if _, ok := tppReads[r]; !ok {
				return fmt.Errorf("--read %q: accounts, balances or transactions", r)
			}
		}
	}
	if *browser && (*wait <= 0 || *wait > time.Hour) {
		return fmt.Errorf("--wait %s: from 1s to 60m (a request object lives at most 60 minutes)", *wait)
	}
	if *standard != "uk" && *standard != "berlin-group" {
		return fmt.Errorf("--standard %q: uk or berlin-group", *standard)
	}
	if *standard == "berlin-group" && vrp != nil {
		return errors.New("--standard berlin-group: accounts or pay (variable recurring payments are a UK Open Banking API)")
	}
	*base = strings.TrimRight(*base, "/")
	hc, err := tppHTTP(ctx, *base, *caFile)
	if err != nil {
		return err
	}
	trace := func(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
		if *quiet {
			return
		}
		fmt.Fprintf(errOut, "→ %s %s\n", req.Method, req.URL.String())
		if proof := req.Header.Get("DPoP"); proof != "" {
			fmt.Fprintf(errOut, "  DPoP proof %s\n", tpp.DecodeJWT(proof))
		}
		if len(reqBody) > 0 {
			fmt.Fprintf(errOut, "  %s\n", shorten(reqBody))
		}
		fmt.Fprintf(errOut, "← %d %s\n  %s\n", resp.StatusCode, http.StatusText(resp.StatusCode), shorten(body))
	}
	if *standard == "berlin-group" {
		psuSet := false
		fs.Visit(func(f *flag.Flag) { psuSet = psuSet || f.Name == "psu" })
		if !psuSet {
			*psu = "erik"
		}
		o := berlinRun{journey: args[0], base: *base, psu: *psu, password: *password, admin: *admin, approach: *scaApproach, reads: reads,
			browser: *browser, redirect: *redirect, wait: *wait, scenario: *scenario, trace: trace, quiet: *quiet}
		if revoke != nil {
			o.revoke = *revoke
		} else {
			o.amount, o.toIBAN, o.toName, o.reference = *amount, *toIBAN, *name, *ref
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "to-name" {
					o.toNameSet = true
				}
			})
		}
		return runBerlinTPP(ctx, o, hc, out, errOut)
	}
	c, err := tpp.New(ctx, *base, *redirect, tpp.WithHTTPClient(hc))
	if err != nil {
		return issuerHint(ctx, hc, *base, err)
	}
	if *version != "3.1" && *version != "4.0" {
		return fmt.Errorf("--version %q: 3.1 or 4.0", *version)
	}
	c.Trace, c.Name, c.Version = trace, "sandbox tpp (reference TPP)", *version
	if *scenario != "" {
		c.Header = http.Header{"X-Sandbox-Scenario": {*scenario}}
	}
	profile := c.Discovery().Profile()
	if *wantProfile != "" && *wantProfile != profile {
		return fmt.Errorf("the sandbox at %s runs the %s profile, not %s (--profile)", *base, profile, *wantProfile)
	}
	fapi := oauth.Strict(profile)
	switch {
	case *binding != "dpop" && *binding != "mtls":
		return fmt.Errorf("--binding %q: dpop or mtls", *binding)
	case profile == oauth.ProfileFAPI2 && *binding == "dpop":
		if err := c.UseDPoP(); err != nil {
			return err
		}
	}
	if *redirect == "" {
		*redirect = devRedirect
		if fapi {
			*redirect = fapiRedirect
		}
		c.RedirectURI = *redirect
	}
	if fapi && *browser && !*ciba {
		return fmt.Errorf("--browser needs an http://localhost redirect URI for the TPP to listen at, and the %s profile refuses those: let the PSU approve headlessly (leave out --browser), decoupled on the bank's pages (--ciba --browser), or use a dev sandbox", profile)
	}
	if err := registerTPP(ctx, c, hc, fapi, *admin); err != nil {
		return err
	}
	if *password == "" {
		*password = psuPassword(ctx, c, *psu, *admin)
	}
	// approve has the PSU decide on a consent and returns the tokens.
	approve := func(consent, scope string) (*tpp.Tokens, error) {
		if *ciba {
			return decoupledApproval(ctx, c, consent, scope, *psu, *password, *browser, *quiet, errOut)
		}
		opts := tpp.AuthOptions{Scope: scope, Flow: tpp.Code, PAR: true}
		if profile == oauth.ProfileFAPI {
			opts.ResponseMode = "jwt" // FAPI 1.0 Advanced: code only with a signed response (JARM)
		}
		var until time.Time
		if *browser {
			// The request object travels in the URL and lives as long as
			// the TPP waits: a pushed request (PAR) would expire in 90 s.
			until = time.Now().Add(*wait)
			opts.PAR, opts.Claims = false, map[string]any{"exp": until.Unix()}
		}
		a, err := c.Authorize(ctx, consent, opts)
		if err != nil {
			return nil, err
		}
		var to string
		if *browser {
			to, err = browserApproval(ctx, a.URL, *redirect, *psu, until, errOut)
		} else {
			to, err = c.Headless(ctx, a, *psu, *password, "approve", nil)
		}
		if err != nil {
			return nil, err
		}
		code, err := c.Callback(ctx, a, to)
		if err != nil {
			return nil, err
		}
		if a.JARM != "" && !*quiet {
			fmt.Fprintf(errOut, "  JARM response %s\n", tpp.DecodeJWT(a.JARM))
		}
		return c.Exchange(ctx, a, code)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if vrp != nil {
		return tppVRP(ctx, c, vrp, tpp.Payee{Name: *name, SortCode: *sortCode, Number: *number}, *amount, *ref, *admin, *quiet,
			func(consent string) (*tpp.Tokens, error) { return approve(consent, "openid payments") }, enc, errOut)
	}
	if args[0] == "accounts" {
		cc, err := c.ClientCredentials(ctx, "accounts")
		if err != nil {
			return err
		}
		consent, err := c.AccountConsent(ctx, cc, tpp.AllPermissions, nil)
		if err != nil {
			return err
		}
		toks, err := approve(consent, "openid accounts")
		if err != nil {
			return err
		}
		got := map[string]any{}
		for _, r := range reads {
			var v any
			if err := c.Call(ctx, http.MethodGet, c.API()+"/aisp/"+tppReads[r], "", toks.AccessToken, nil, http.StatusOK, &v); err != nil {
				return err
			}
			got[r] = v
		}
		if *revoke {
			if err := c.Call(ctx, http.MethodDelete, c.API()+"/aisp/account-access-consents/"+consent, "", cc, nil, http.StatusNoContent, nil); err != nil {
				return err
			}
			if err := c.Call(ctx, http.MethodGet, c.API()+"/aisp/accounts", "", toks.AccessToken, nil, http.StatusUnauthorized, nil); err != nil {
				return fmt.Errorf("after revoking: %w", err)
			}
			fmt.Fprintf(errOut, "consent %s revoked: its token now gets 401\n", consent)
		}
		if len(reads) == 1 {
			return enc.Encode(got[reads[0]])
		}
		return enc.Encode(got)
	}
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		return err
	}
	approvePay := func(consent string) (*tpp.Tokens, error) { return approve(consent, "openid payments") }
	if *payFile != "" {
		return tppPayFile(ctx, c, cc, *payFile, approvePay, enc, *quiet, errOut)
	}
	if intl.on {
		return tppPayInternational(ctx, c, cc, intl, *amount, tpp.Abroad{Name: *name, IBAN: *toIBAN}, *ref, approvePay, enc, *quiet, errOut)
	}
	in := c.Initiation(*amount, tpp.Payee{Name: *name, SortCode: *sortCode, Number: *number}, *ref)
	consent, err := c.PaymentConsent(ctx, cc, in)
	if err != nil {
		return err
	}
	toks, err := approve(consent, "openid payments")
	if err != nil {
		return err
	}
	id, status, err := c.Pay(ctx, toks.AccessToken, consent, in, uuid.NewString())
	if err != nil {
		return err
	}
	var payment any
	if err := c.Call(ctx, http.MethodGet, c.API()+"/pisp/domestic-payments/"+id, "", cc, nil, http.StatusOK, &payment); err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(errOut, "payment %s is %s\n", id, status)
	}
	return enc.Encode(payment)
}

// The redirect URIs registered by default: fapi refuses http and localhost
// ones. tpp.example is a name reserved for examples (RFC 2606): with the
// headless PSU no browser goes there.
const (
	devRedirect  = "http://localhost:3000/callback"
	fapiRedirect = "https://tpp.example/callback"
)

const tppAbout = `A reference TPP runs a whole journey against a sandbox: it registers a client (in fapi and fapi2
with a certificate and a software statement from the sandbox, so the admin token is needed),
creates the consent, has the PSU approve it (headlessly, or with --browser in a browser; with
--ciba decoupled, on the PSU's "phone"), exchanges the code, then reads (accounts), pays (pay), or
makes variable recurring payments under a mandate, showing each limit's arithmetic (vrp).
It follows the sandbox's profile: dev code flow; fapi code with a signed response (JARM); fapi2
PAR, code and DPoP-bound tokens (--binding mtls for certificate-bound ones). Each HTTP exchange
goes to stderr, with DPoP proofs and JARM responses decoded, the result as JSON to stdout.
`

const tppUsage = "Usage: sandbox tpp accounts [flags]   read a PSU's accounts, balances or transactions\n" +
	"       sandbox tpp pay [flags]        make a domestic payment from the PSU's account (--international: abroad,\n" +
	"                                      converted at the bank's rates; --file FILE: a payment file, JSON or pain.001)\n" +
	"       sandbox tpp vrp [flags]        set up a VRP mandate and pay under it until a limit says no\n" +
	"       (--standard berlin-group: accounts and pay through Berlin Group NextGenPSD2 1.3.12, a SEPA or cross-border payment)\n\n" + tppAbout +
	"\nsandbox tpp accounts --help, sandbox tpp pay --help and sandbox tpp vrp --help list the flags.\n"

// tppReads are the AIS lists `sandbox tpp accounts --read` can print.
var tppReads = map[string]string{"accounts": "accounts", "balances": "balances", "transactions": "transactions"}

// browserApproval prints the authorization URL for a person to open and
// waits at the redirect URI (http on this machine) for the bank to send the
// browser back; it returns the URL the browser was sent to.
func browserApproval(ctx context.Context, authorizeURL, redirect, psu string, until time.Time, errOut io.Writer) (string, error) {
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || (u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1") || u.Port() == "" {
		return "", fmt.Errorf("--browser listens at the redirect URI: give an http://localhost:PORT/... or http://127.0.0.1:PORT/... one (%q)", redirect)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), u.Port()))
	if err != nil {
		return "", fmt.Errorf("listening at the redirect URI: %w", err)
	}
	got := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != u.Path {
			http.NotFound(w, r)
			return
		}
		back := *u
		back.RawQuery = r.URL.RawQuery
		// The page first, then the news: the command must not close the
		// server under the browser's answer.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>Back at the TPP</title><p>The bank sent you back to the TPP. You can close this tab.</p>")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case got <- back.String():
		default:
		}
	})}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // lets the answer in flight finish
	}()
	wait := time.Until(until).Round(time.Second)
	fmt.Fprintf(errOut, "Open this URL in a browser and approve as %s within %s (the request expires at %s):\n\n  %s\n\nWaiting at %s until then ...\n",
		psu, wait, until.Format("15:04:05"), authorizeURL, redirect)
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case to := <-got:
		return to, nil
	case <-t.C:
		return "", fmt.Errorf("no answer from the browser in %s: the authorization request has expired (a longer --wait gives more time)", wait)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func shorten(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// tppHTTP is an HTTP client for the sandbox, trusting its development CA
// over TLS.
func tppHTTP(ctx context.Context, base, caFile string) (*http.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if !strings.HasPrefix(base, "https://") {
		return hc, nil
	}
	var pem []byte
	var err error
	if caFile != "" {
		pem, err = os.ReadFile(caFile)
	} else {
		// Fetch the root once without verification, then pin it: the
		// development CA is not in any trust store.
		insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		var resp *http.Response
		if resp, err = insecure.Get(base + "/sandbox/certs/ca.pem"); err == nil {
			defer resp.Body.Close()
			pem, err = io.ReadAll(resp.Body)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the sandbox's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("the sandbox's CA: no certificate in the PEM")
	}
	hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return hc, nil
}

// decoupledApproval runs the CIBA part of a journey: a backchannel
// authentication request naming the PSU, their approval — headless, or on
// the bank's pages with browser — and polling the token endpoint at the
// interval the bank says (longer after slow_down) until the tokens come.
func decoupledApproval(ctx context.Context, c *tpp.Client, consent, scope, psu, password string, browser, quiet bool, errOut io.Writer) (*tpp.Tokens, error) {
	binding := fmt.Sprintf("SBX-%04d", time.Now().UnixNano()%10000)
	r, err := c.BackchannelAuthorize(ctx, consent, tpp.CIBAOptions{Scope: scope, LoginHint: psu, BindingMessage: binding})
	if err != nil {
		return nil, err
	}
	if browser {
		fmt.Fprintf(errOut, "Log in as %s at %s/psu/apps and approve the request showing %s within %d s; polling meanwhile ...\n",
			psu, c.Discovery().Issuer, binding, r.ExpiresIn)
	} else if err := c.HeadlessCIBA(ctx, r.AuthReqID, psu, password, "approve", nil); err != nil {
		return nil, err
	}
	interval := time.Duration(r.Interval) * time.Second
	for {
		toks, err := c.PollCIBA(ctx, r.AuthReqID)
		var te *tpp.TokenError
		switch {
		case err == nil:
			return toks, nil
		case !errors.As(err, &te):
			return nil, err
		case te.Code == "slow_down":
			interval += 5 * time.Second
		case te.Code != "authorization_pending":
			return nil, err
		}
		if !quiet {
			fmt.Fprintf(errOut, "  %s: polling again in %s\n", te.Code, interval)
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// issuerHint explains a failed discovery: go-oidc refuses a sandbox whose
// issuer is not the URL it was given (OpenID Connect Discovery 1.0 §4.3).
func issuerHint(ctx context.Context, hc *http.Client, base string, err error) error {
	req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/openid-configuration", nil)
	if rerr != nil {
		return err
	}
	resp, rerr := hc.Do(req)
	if rerr != nil {
		return fmt.Errorf("%w\nno sandbox answers at %s: start one (go run ./cmd/sandbox), or give its URL with --sandbox or SANDBOX_URL", err, base)
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&disc) == nil && disc.Issuer != "" && disc.Issuer != base {
		return fmt.Errorf("the sandbox at %s calls itself %s (its issuer), and a TPP must use that URL: --sandbox %s", base, disc.Issuer, disc.Issuer)
	}
	return err
}

// registerTPP registers the client: JSON in dev; in fapi and fapi2 a
// certificate for mutual TLS and a software statement, both from the sandbox
// (admin token).
func registerTPP(ctx context.Context, c *tpp.Client, hc *http.Client, fapi bool, admin string) error {
	if !fapi {
		return c.Register(ctx, "private_key_jwt")
	}
	if admin == "" {
		return errors.New("the sandbox runs a FAPI profile: give its admin token (--admin-token or SANDBOX_ADMIN_TOKEN) so the TPP can get a certificate and a software statement")
	}
	var cert struct {
		Cert string `json:"certificate_pem"`
		Key  string `json:"private_key_pem"`
	}
	if err := c.Call(ctx, http.MethodPost, "/sandbox/certs", "application/json", admin, map[string]string{"common_name": "sandbox-tpp"},
		http.StatusCreated, &cert); err != nil {
		return err
	}
	pair, err := tls.X509KeyPair([]byte(cert.Cert), []byte(cert.Key))
	if err != nil {
		return err
	}
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	hc.Transport = tr
	ssa, err := c.SoftwareStatement(ctx, admin)
	if err != nil {
		return err
	}
	return c.RegisterJWT(ctx, ssa)
}

// psuPassword asks the sandbox for the PSU's password, or guesses the
// fixtures' convention.
func psuPassword(ctx context.Context, c *tpp.Client, psu, admin string) string {
	if admin != "" {
		var list struct {
			PSUs []struct{ Username, Password string } `json:"psus"`
		}
		if c.Call(ctx, http.MethodGet, "/sandbox/psus", "", admin, nil, http.StatusOK, &list) == nil {
			for _, p := range list.PSUs {
				if p.Username == psu {
					return p.Password
				}
			}
		}
	}
	return psu + "123"
}
