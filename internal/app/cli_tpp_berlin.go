package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// berlinPayee is the default payee of `sandbox tpp pay --standard
// berlin-group`: a valid IBAN of no account of the sandbox bank.
const berlinPayee = "DE89370400440532013000"

// berlinRun is what `sandbox tpp --standard berlin-group` was asked.
type berlinRun struct {
	journey, base, psu, password, admin, approach string
	reads                                         []string
	browser                                       bool
	redirect                                      string
	wait                                          time.Duration
	scenario                                      string
	trace                                         func(*http.Request, []byte, *http.Response, []byte)
	quiet, revoke                                 bool
	amount, toIBAN, toName, reference             string
	toNameSet                                     bool
}

// runBerlinTPP runs a journey through Berlin Group NextGenPSD2: a QWAC from
// the sandbox (roles PSP_AI, PSP_PI, PSP_IC), a consent (accounts) or a
// payment (pay) the PSU authorises in the approach asked for — headlessly,
// or with --browser at the bank's pages (redirect) or its pending approvals
// (decoupled) — then the reads or the payment's status.
func runBerlinTPP(ctx context.Context, o berlinRun, hc *http.Client, out, errOut io.Writer) error {
	if o.admin == "" {
		return errors.New("a Berlin Group TPP is identified by a QWAC, which the sandbox issues: give its admin token (--admin-token or SANDBOX_ADMIN_TOKEN)")
	}
	approach := strings.ToUpper(o.approach)
	if approach != "REDIRECT" && approach != "DECOUPLED" && approach != "EMBEDDED" {
		return fmt.Errorf("--sca %q: redirect, decoupled or embedded", o.approach)
	}
	if o.browser && approach == "EMBEDDED" {
		return errors.New("--browser: in the embedded approach the PSU's password and OTP go through the TPP; use redirect or decoupled")
	}
	q, err := tpp.IssueQWAC(ctx, hc, o.base, o.admin, "sandbox-tpp-eu", []string{"PSP_AI", "PSP_PI", "PSP_IC"})
	if err != nil {
		return err
	}
	b := &tpp.Berlin{Base: o.base, HTTP: hc, QWAC: q.Base64, OrgID: q.OrgID, RedirectURI: cmpOr(o.redirect, fapiRedirect), Approach: approach,
		Trace: o.trace}
	if o.browser {
		b.RedirectURI = cmpOr(o.redirect, devRedirect)
	}
	if strings.HasPrefix(o.base, "https://") {
		// Over TLS the QWAC goes in the handshake (the fapi profiles take
		// nothing else).
		if err := b.UseMutualTLS(q); err != nil {
			return err
		}
	}
	if o.scenario != "" {
		b.Header = http.Header{"X-Sandbox-Scenario": {o.scenario}}
	}
	if o.password == "" {
		o.password = berlinPassword(ctx, hc, o.base, o.psu, o.admin)
	}
	if !o.quiet {
		fmt.Fprintf(errOut, "TPP %s (QWAC from the sandbox's CA, roles %s)\n", q.OrgID, strings.Join(q.Roles, ", "))
	}
	authorise := func(s *tpp.Started) error {
		if !o.browser {
			return b.Authorise(ctx, s, o.psu, o.password)
		}
		if approach == "DECOUPLED" {
			fmt.Fprintf(errOut, "Log in as %s at %s/psu/apps and approve the pending request; polling meanwhile ...\n", o.psu, o.base)
			return pollSCA(ctx, b, s.Links["scaStatus"].Href, time.Now().Add(o.wait))
		}
		to, err := browserApproval(ctx, s.Links["scaRedirect"].Href, b.RedirectURI, o.psu, time.Now().Add(o.wait), errOut)
		if err != nil {
			return err
		}
		if to != b.RedirectURI {
			return fmt.Errorf("the bank sent the PSU back to %s: not approved", to)
		}
		return nil
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if o.journey == "accounts" {
		s, err := b.Consent(ctx, map[string]any{"access": map[string]any{"allPsd2": "allAccounts"}, "recurringIndicator": true,
			"validUntil": "9999-12-31", "frequencyPerDay": 4, "combinedServiceIndicator": false}, o.psu)
		if err != nil {
			return err
		}
		if err := authorise(s); err != nil {
			return err
		}
		h := map[string]string{"Consent-ID": s.ConsentID}
		var list struct {
			Accounts []tpp.BerlinAccount `json:"accounts"`
		}
		if err := b.Call(ctx, http.MethodGet, "/accounts", nil, h, http.StatusOK, &list); err != nil {
			return err
		}
		got := map[string]any{}
		for _, r := range o.reads {
			switch r {
			case "accounts":
				var v any
				if err := b.Call(ctx, http.MethodGet, "/accounts", nil, h, http.StatusOK, &v); err != nil {
					return err
				}
				got[r] = v
			default:
				per := map[string]any{}
				for _, a := range list.Accounts {
					path := "/accounts/" + a.ResourceID + "/balances"
					if r == "transactions" {
						path = "/accounts/" + a.ResourceID + "/transactions?bookingStatus=both&dateFrom=2000-01-01&itemsPerPage=25"
					}
					var v any
					if err := b.Call(ctx, http.MethodGet, path, nil, h, http.StatusOK, &v); err != nil {
						return err
					}
					per[a.ResourceID] = v
				}
				got[r] = per
			}
		}
		if o.revoke {
			if err := b.Call(ctx, http.MethodDelete, "/consents/"+s.ConsentID, nil, nil, http.StatusNoContent, nil); err != nil {
				return err
			}
			if err := b.Call(ctx, http.MethodGet, "/accounts", nil, h, http.StatusUnauthorized, nil); err != nil {
				return fmt.Errorf("after terminating the consent: %w", err)
			}
			fmt.Fprintf(errOut, "consent %s terminated by the TPP: its reads now get 401 CONSENT_INVALID\n", s.ConsentID)
		}
		if len(o.reads) == 1 {
			return enc.Encode(got[o.reads[0]])
		}
		return enc.Encode(got)
	}
	// pay: which account? A one-off consent on the list of accounts.
	s, err := b.Consent(ctx, map[string]any{"access": map[string]any{"availableAccounts": "allAccounts"}, "recurringIndicator": false,
		"validUntil": "9999-12-31", "frequencyPerDay": 1, "combinedServiceIndicator": false}, o.psu)
	if err != nil {
		return err
	}
	if err := authorise(s); err != nil {
		return err
	}
	var list struct {
		Accounts []tpp.BerlinAccount `json:"accounts"`
	}
	if err := b.Call(ctx, http.MethodGet, "/accounts", nil, map[string]string{"Consent-ID": s.ConsentID}, http.StatusOK, &list); err != nil {
		return err
	}
	if len(list.Accounts) == 0 {
		return fmt.Errorf("%s has no payment account", o.psu)
	}
	from := list.Accounts[0]
	product := "cross-border-credit-transfers"
	if from.Currency == "EUR" {
		product = "sepa-credit-transfers"
	}
	if !o.toNameSet {
		o.toName = "Spree Books GmbH"
	}
	body := map[string]any{"debtorAccount": map[string]string{"iban": from.IBAN}, "instructedAmount": map[string]string{"currency": from.Currency,
		"amount": o.amount}, "creditorAccount": map[string]string{"iban": o.toIBAN}, "creditorName": o.toName,
		"remittanceInformationUnstructured": o.reference}
	p, err := b.Initiate(ctx, "payments", product, body, o.psu)
	if err != nil {
		return err
	}
	if err := authorise(p); err != nil {
		return err
	}
	status, err := b.PollStatus(ctx, p.Links["status"].Href, time.Now().Add(10*time.Second))
	if err != nil {
		return err
	}
	var payment any
	if err := b.Call(ctx, http.MethodGet, p.Links["self"].Href, nil, nil, http.StatusOK, &payment); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(errOut, "payment %s (%s from %s) is %s\n", p.PaymentID, product, from.IBAN, status)
	}
	return enc.Encode(payment)
}

// pollSCA waits for a decoupled routine the PSU approves in the pages.
func pollSCA(ctx context.Context, b *tpp.Berlin, auth string, until time.Time) error {
	for {
		var st struct{ ScaStatus string }
		if err := b.Call(ctx, http.MethodGet, auth, nil, nil, http.StatusOK, &st); err != nil {
			return err
		}
		switch st.ScaStatus {
		case "finalised":
			return nil
		case "failed":
			return errors.New("the PSU did not approve (scaStatus failed)")
		}
		if time.Now().After(until) {
			return fmt.Errorf("no approval by %s (scaStatus %s)", until.Format("15:04:05"), st.ScaStatus)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// berlinPassword asks the sandbox for the PSU's password (admin), or
// guesses the fixtures' convention.
func berlinPassword(ctx context.Context, hc *http.Client, base, psu, admin string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sandbox/psus", nil)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+admin)
		if resp, err := hc.Do(req); err == nil {
			defer resp.Body.Close()
			var list struct {
				PSUs []struct{ Username, Password string } `json:"psus"`
			}
			if json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&list) == nil {
				for _, p := range list.PSUs {
					if p.Username == psu {
						return p.Password
					}
				}
			}
		}
	}
	return psu + "123"
}
