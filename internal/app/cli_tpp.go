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
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// runTPP is `sandbox tpp accounts|pay`: a reference TPP against any
// sandbox. It registers a client, runs the journey headlessly (the PSU's
// part through POST /sandbox/psu/authorize) and prints each HTTP exchange
// on stderr and the result as JSON on stdout.
func runTPP(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || (args[0] != "accounts" && args[0] != "pay") {
		return errors.New("usage: sandbox tpp accounts --psu alice | sandbox tpp pay --psu alice --amount 10.00 [flags] (--help for each)")
	}
	fs := flag.NewFlagSet("sandbox tpp "+args[0], flag.ContinueOnError)
	fs.SetOutput(errOut)
	base := fs.String("sandbox", "http://127.0.0.1:8080", "the sandbox's base URL")
	psu := fs.String("psu", "alice", "the test PSU who approves")
	password := fs.String("password", "", "the PSU's password (default: from GET /sandbox/psus with --admin-token, else <psu>123)")
	admin := fs.String("admin-token", "", "the sandbox's admin token (needed for fapi: software statement and certificate)")
	caFile := fs.String("ca", "", "PEM file of the CA to trust over TLS (default: the sandbox's, fetched from /sandbox/certs/ca.pem)")
	quiet := fs.Bool("quiet", false, "do not print the HTTP exchanges")
	redirect := fs.String("redirect-uri", "http://localhost:3000/callback", "the redirect URI to register (https outside dev)")
	amount := fs.String("amount", "10.00", "pay: the amount in GBP")
	sortCode := fs.String("to-sort-code", "200415", "pay: the payee's sort code")
	number := fs.String("to-account", "33104477", "pay: the payee's account number")
	name := fs.String("to-name", "Greenfield Lettings", "pay: the payee's name")
	ref := fs.String("reference", "SANDBOX TPP", "pay: the payment reference")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	hc, err := tppHTTP(ctx, *base, *caFile)
	if err != nil {
		return err
	}
	trace := func(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
		if *quiet {
			return
		}
		fmt.Fprintf(errOut, "→ %s %s\n", req.Method, req.URL.String())
		if len(reqBody) > 0 {
			fmt.Fprintf(errOut, "  %s\n", shorten(reqBody))
		}
		fmt.Fprintf(errOut, "← %d %s\n  %s\n", resp.StatusCode, http.StatusText(resp.StatusCode), shorten(body))
	}
	c, err := tpp.New(ctx, *base, *redirect, tpp.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	c.Trace, c.Name = trace, "sandbox tpp (reference TPP)"
	if err := registerTPP(ctx, c, hc, *base, *admin); err != nil {
		return err
	}
	if *password == "" {
		*password = psuPassword(ctx, c, *psu, *admin)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	switch args[0] {
	case "accounts":
		toks, _, err := c.AISJourney(ctx, *psu, *password, tpp.AllPermissions, nil)
		if err != nil {
			return err
		}
		var accounts any
		if err := c.Call(ctx, http.MethodGet, "/open-banking/v3.1/aisp/accounts", "", toks.AccessToken, nil, http.StatusOK, &accounts); err != nil {
			return err
		}
		return enc.Encode(accounts)
	default:
		in := tpp.DomesticInitiation(*amount, tpp.Payee{Name: *name, SortCode: *sortCode, Number: *number}, *ref)
		id, status, err := c.PaymentJourney(ctx, *psu, *password, in, nil)
		if err != nil {
			return err
		}
		cc, err := c.ClientCredentials(ctx, "payments")
		if err != nil {
			return err
		}
		var payment any
		if err := c.Call(ctx, http.MethodGet, "/open-banking/v3.1/pisp/domestic-payments/"+id, "", cc, nil, http.StatusOK, &payment); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(errOut, "payment %s is %s\n", id, status)
		}
		return enc.Encode(payment)
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

// registerTPP registers the client: JSON in dev; in fapi a certificate for
// mutual TLS and a software statement, both from the sandbox (admin token).
func registerTPP(ctx context.Context, c *tpp.Client, hc *http.Client, base, admin string) error {
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := c.Call(ctx, http.MethodGet, "/.well-known/openid-configuration", "", "", nil, http.StatusOK, &meta); err != nil {
		return err
	}
	fapi := !strings.Contains(strings.Join(meta.AuthMethods, " "), "client_secret")
	if !fapi {
		return c.Register(ctx, "private_key_jwt")
	}
	if admin == "" {
		return errors.New("the sandbox runs the fapi profile: pass --admin-token so the TPP can get a certificate and a software statement")
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
