package e2e

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// TestWalkthrough follows the README's curl walk-through step by step (dev
// profile: client secret, PAR with plain parameters and the ConsentId in
// the OIDC claims parameter, PKCE with RFC 7636's example verifier).
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	const redirect = "http://localhost:3000/callback"
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	r := s.do(req{method: "POST", path: "/as/register", body: map[string]any{"client_name": "My App", "redirect_uris": []string{redirect}}})
	expect(t, r, 201)
	r.JSON(t, &reg)
	basic := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	form := func(path string, v url.Values) *response {
		hr := req{method: "POST", path: path, body: v.Encode(), header: basic}
		hr.header["Authorization"] = "Basic " + basicAuth(reg.ClientID, reg.ClientSecret)
		return s.do(hr)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		RequestURI   string `json:"request_uri"`
		RedirectTo   string `json:"redirect_to"`
	}
	form("/as/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}).JSON(t, &tok)
	cc := tok.AccessToken
	var cn struct{ Data struct{ ConsentId string } }
	r = s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc, body: `{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances"]},"Risk":{}}`})
	expect(t, r, 201)
	r.JSON(t, &cn)
	r = form("/as/par", url.Values{"response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid accounts"}, "state": {"af0ifjsldkj"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"claims": {`{"id_token":{"openbanking_intent_id":{"value":"` + cn.Data.ConsentId + `"}}}`}})
	expect(t, r, 201)
	r.JSON(t, &tok)
	authz := s.url + "/as/authorize?client_id=" + reg.ClientID + "&request_uri=" + url.QueryEscape(tok.RequestURI)
	r = s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: map[string]string{"authorize_url": authz, "username": "alice",
		"password": "alice123", "decision": "approve"}})
	expect(t, r, 200)
	r.JSON(t, &tok)
	u, _ := url.Parse(tok.RedirectTo)
	if !strings.HasPrefix(tok.RedirectTo, redirect+"?") || u.Query().Get("state") != "af0ifjsldkj" {
		t.Fatalf("redirect %s", tok.RedirectTo)
	}
	r = form("/as/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect},
		"code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}})
	expect(t, r, 200)
	r.JSON(t, &tok)
	expect(t, s.get(ais+"/accounts", tok.AccessToken), 200)
	r = form("/as/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	expect(t, r, 200)
	r.JSON(t, &tok)
	expect(t, s.do(req{method: "DELETE", path: ais + "/account-access-consents/" + cn.Data.ConsentId, token: cc}), 204)
	expect(t, s.get(ais+"/accounts", tok.AccessToken), 401)
}

func basicAuth(id, secret string) string {
	return b64(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
