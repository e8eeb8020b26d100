package tpp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DPoP is the TPP's proof-of-possession key (RFC 9449): a P-256 key that
// signs a proof (ES256) for every token request and every call with a
// DPoP-bound token, and the last nonce the bank asked for.
type DPoP struct {
	Key *ecdsa.PrivateKey

	mu     sync.Mutex
	nonce  string
	tokens map[string]bool // access tokens the bank issued as DPoP-bound
}

// UseDPoP gives the TPP a DPoP key: it registers dpop_bound_access_tokens,
// and its HTTP client sends proofs to the token endpoint and with its
// tokens, following the bank's use_dpop_nonce answers once per request.
// Call it before Register.
func (c *Client) UseDPoP() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	c.DPoP = &DPoP{Key: key, tokens: map[string]bool{}}
	hc := *c.HTTP
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &dpopTransport{c: c, next: next}
	c.HTTP = &hc
	return nil
}

// JKT is the thumbprint of the DPoP key (RFC 7638), as the bank puts it in
// cnf.jkt.
func (d *DPoP) JKT() string {
	tp, _ := (&jose.JSONWebKey{Key: &d.Key.PublicKey}).Thumbprint(cryptoSHA256)
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Nonce is the last nonce the bank gave (DPoP-Nonce).
func (d *DPoP) Nonce() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonce
}

// Proof signs a DPoP proof (RFC 9449 §4.2) for a request: typ dpop+jwt, the
// public key as jwk, htm, htu (the URL without query and fragment), iat,
// jti, the bank's nonce once known, and ath for an access token.
func (c *Client) Proof(method, url, accessToken string) (string, error) {
	d := c.DPoP
	htu, _, _ := strings.Cut(url, "?")
	htu, _, _ = strings.Cut(htu, "#")
	claims := jwt.MapClaims{"htm": method, "htu": htu, "iat": c.now().Unix(), "jti": uuid.NewString()}
	if n := d.Nonce(); n != "" {
		claims["nonce"] = n
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = jose.JSONWebKey{Key: &d.Key.PublicKey}
	return t.SignedString(d.Key)
}

// markDPoP remembers a token the bank issued with token_type DPoP: Send
// then presents it under the DPoP scheme with a proof.
func (c *Client) markDPoP(token, tokenType string) {
	if c.DPoP == nil || !strings.EqualFold(tokenType, "DPoP") {
		return
	}
	c.DPoP.mu.Lock()
	c.DPoP.tokens[token] = true
	c.DPoP.mu.Unlock()
}

func (c *Client) isDPoP(token string) bool {
	if c.DPoP == nil {
		return false
	}
	c.DPoP.mu.Lock()
	defer c.DPoP.mu.Unlock()
	return c.DPoP.tokens[token]
}

// dpopTransport adds a proof to requests to the token endpoint and to
// requests with "Authorization: DPoP", and sends a request once more with a
// new proof when the bank answers use_dpop_nonce (RFC 9449 §8, §9).
type dpopTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	token, bound := strings.CutPrefix(req.Header.Get("Authorization"), "DPoP ")
	if !bound {
		token = ""
	}
	if !bound && u.String() != t.c.disc.TokenEndpoint {
		return t.next.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		var reqBody []byte
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			reqBody, _ = io.ReadAll(body)
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		proof, err := t.c.Proof(req.Method, u.String(), token)
		if err != nil {
			return nil, err
		}
		r.Header.Set("DPoP", proof)
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			t.c.DPoP.mu.Lock()
			t.c.DPoP.nonce = n
			t.c.DPoP.mu.Unlock()
		}
		if attempt > 0 || (resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized) || resp.Header.Get("DPoP-Nonce") == "" {
			return resp, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		if e.Error != "use_dpop_nonce" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return resp, nil
		}
		if t.c.Trace != nil { // the refused attempt is part of the story
			t.c.Trace(r, reqBody, resp, body)
		}
		if req.Body != nil && req.GetBody == nil {
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return resp, nil // a body that cannot be sent again
		}
	}
}

// DecodeJWT shows a compact JWT's header and claims as JSON, for people to
// read (nothing is verified).
func DecodeJWT(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "(not a JWT)"
	}
	var dec [2][]byte
	for i := range dec {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || !json.Valid(b) {
			return "(not a JWT)"
		}
		dec[i] = b
	}
	return `{"header":` + string(dec[0]) + `,"claims":` + string(dec[1]) + `}`
}
