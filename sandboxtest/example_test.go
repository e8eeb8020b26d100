package sandboxtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/sandboxtest"
)

// A whole account-information journey against a sandbox of its own, as a
// TPP's code would run it in the dev profile: register, client-credentials
// token, consent, pushed authorization request — then the PSU approves
// (Approve, headless), the code is exchanged, the accounts read and the
// sandbox clock moved. In a test, sandboxtest.New(t) starts and stops it.
func Example() {
	sb, err := sandboxtest.Start(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	tpp := &exampleTPP{base: sb.URL, hc: sb.HTTP}

	// The TPP: register (dev: JSON metadata, a client secret), a
	// client-credentials token, an account-access consent, a pushed request.
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	tpp.do("POST", "/as/register", "", `{"client_name":"Example TPP","redirect_uris":["http://localhost:3000/callback"]}`, &reg)
	tpp.id, tpp.secret = reg.ClientID, reg.ClientSecret
	cc := tpp.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}})
	var consent struct {
		Data struct{ ConsentId, Status string }
	}
	tpp.do("POST", "/open-banking/v3.1/aisp/account-access-consents", cc,
		`{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances"]},"Risk":{}}`, &consent)
	fmt.Println("consent", consent.Data.Status)
	var par struct {
		RequestURI string `json:"request_uri"`
	}
	tpp.form("/as/par", url.Values{"response_type": {"code"}, "redirect_uri": {"http://localhost:3000/callback"},
		"scope": {"openid accounts"}, "state": {"s1"}, "code_challenge_method": {"S256"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, // RFC 7636's example
		"claims":         {`{"id_token":{"openbanking_intent_id":{"value":"` + consent.Data.ConsentId + `"}}}`}}, &par)

	// The PSU: alice logs in and approves, headlessly.
	redirect, err := sb.Approve(consent.Data.ConsentId)
	if err != nil {
		log.Fatal(err)
	}
	back, _ := url.Parse(redirect)
	fmt.Println("back at", back.Host+back.Path, "with a code:", back.Query().Get("code") != "")

	// The TPP again: exchange the code, read the accounts.
	access := tpp.token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {"http://localhost:3000/callback"}, "code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}})
	var accounts struct {
		Data struct{ Account []struct{ Nickname string } }
	}
	tpp.do("GET", "/open-banking/v3.1/aisp/accounts", access, "", &accounts)
	for _, a := range accounts.Data.Account {
		fmt.Println("account:", a.Nickname)
	}

	// The sandbox clock: 91 days on, the consent's tokens still work
	// (access tokens are refreshed in real life; this one is an hour's).
	before, _ := sb.Clock.Now()
	after, _ := sb.Clock.Advance(91 * 24 * time.Hour)
	fmt.Println("clock moved", after.Sub(before).Round(24*time.Hour))
	// Output:
	// consent AwaitingAuthorisation
	// back at localhost:3000/callback with a code: true
	// account: Everyday
	// account: Rainy Day Saver
	// account: Sandbox Rewards Card
	// clock moved 2184h0m0s
}

// exampleTPP is the few HTTP calls a TPP makes, without a library.
type exampleTPP struct {
	base, id, secret string
	hc               *http.Client
}

func (c *exampleTPP) do(method, path, token, body string, out any) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c.send(req, out)
}

func (c *exampleTPP) form(path string, v url.Values, out any) {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.id, c.secret)
	c.send(req, out)
}

func (c *exampleTPP) token(v url.Values) string {
	var t struct {
		AccessToken string `json:"access_token"`
	}
	c.form("/as/token", v, &t)
	return t.AccessToken
}

func (c *exampleTPP) send(req *http.Request, out any) {
	resp, err := c.hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		log.Fatalf("%s %s: %d %v", req.Method, req.URL.Path, resp.StatusCode, e)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		log.Fatal(err)
	}
}
