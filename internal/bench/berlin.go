package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// The Berlin Group reads: the same bank through NextGenPSD2 1.3.12.
const (
	RouteAccountsBG     = "accounts-berlin"     // GET /psd2/v1/accounts
	RouteBalancesBG     = "balances-berlin"     // GET /psd2/v1/accounts/{id}/balances
	RouteTransactionsBG = "transactions-berlin" // GET /psd2/v1/accounts/{id}/transactions, 50 booked entries, dateFrom
)

var berlinRoutes = []string{RouteAccountsBG, RouteBalancesBG, RouteTransactionsBG}

// berlin is what the Berlin Group reads need: a TPP named by a test QWAC
// (the header, as in dev), a consent on all of alice's accounts approved
// at the bank's redirect pages headlessly, and her current account's id.
type berlin struct {
	qwac, consent, account string
}

func (w *world) prepareBerlin(ctx context.Context, admin string) error {
	q, err := tpp.IssueQWAC(ctx, w.hc, w.base, admin, "sandbox bench", []string{"PSP_AI"})
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: w.hc.Timeout, Transport: w.hc.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	b := &tpp.Berlin{Base: w.base, HTTP: hc, QWAC: q.Base64, RedirectURI: redirectURI, Header: http.Header{"Authorization": {"Bearer " + admin}}}
	st, err := b.Consent(ctx, map[string]any{"access": map[string]any{"allPsd2": "allAccounts"}, "recurringIndicator": true,
		"validUntil": time.Now().AddDate(0, 0, 90).Format(time.DateOnly), "frequencyPerDay": 4, "combinedServiceIndicator": false}, benchPSU)
	if err != nil {
		return fmt.Errorf("the Berlin Group consent: %w", err)
	}
	if err := b.Authorise(ctx, st, benchPSU, benchPassword); err != nil {
		return fmt.Errorf("the Berlin Group consent: %w", err)
	}
	var list struct {
		Accounts []struct {
			ResourceID  string `json:"resourceId"`
			Currency    string `json:"currency"`
			CashAccount string `json:"cashAccountType"`
		} `json:"accounts"`
	}
	if err := b.Call(ctx, http.MethodGet, "/accounts", nil, map[string]string{"Consent-ID": st.ConsentID}, http.StatusOK, &list); err != nil {
		return err
	}
	for _, a := range list.Accounts {
		if a.CashAccount == "CACC" && a.Currency == "GBP" {
			w.bg = &berlin{qwac: q.Base64, consent: st.ConsentID, account: a.ResourceID}
			return nil
		}
	}
	return fmt.Errorf("the Berlin Group accounts: %s has no GBP current account among %d", benchPSU, len(list.Accounts))
}

// bgRead is a read under /psd2/v1 as the TPP sends it: its certificate,
// the consent, the PSU present (PSU-IP-Address: not counted against
// frequencyPerDay) and one X-Request-ID (the bank does not require a new
// one per request; the bare server is sent the same).
func (w *world) bgRead(path string) Request {
	return Request{Method: http.MethodGet, Path: tpp.BerlinBase + path, Header: [][2]string{
		{"TPP-QWAC-Certificate", w.bg.qwac}, {"Consent-ID", w.bg.consent}, {"PSU-IP-Address", "192.0.2.1"}, {"X-Request-ID", uuid.NewString()}}}
}

func (w *world) berlinRequests() map[string]Request {
	return map[string]Request{
		RouteAccountsBG:     w.bgRead("/accounts"),
		RouteBalancesBG:     w.bgRead("/accounts/" + w.bg.account + "/balances"),
		RouteTransactionsBG: w.bgRead("/accounts/" + w.bg.account + "/transactions?bookingStatus=booked&dateFrom=2025-01-01&itemsPerPage=50"),
	}
}
