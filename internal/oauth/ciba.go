package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/egress"
	"github.com/obsandbox/sandbox/internal/store"
)

// Decoupled authentication: OpenID CIBA Core 1.0, as FAPI-CIBA and the UK
// Open Banking CIBA profile use it. The TPP asks the bank, over the back
// channel, to have a PSU approve a consent; the PSU approves "on their
// phone" (the bank's pages, or the headless PSU); the TPP collects the
// tokens at the token endpoint — polling (poll mode), or when the bank
// calls its notification endpoint (ping mode). Push mode, which FAPI-CIBA
// forbids, is not offered.

// Token delivery modes (CIBA Core §5).
const (
	CIBAPoll = "poll"
	CIBAPing = "ping"
)

// CIBA lifetimes, on the sandbox clock.
const (
	CIBADefaultExpiry = 10 * time.Minute
	CIBAMaxExpiry     = time.Hour
	// CIBAInterval is the least time between two polls; a poll sooner gets
	// slow_down and the interval grows by CIBASlowDown (CIBA Core §11,
	// RFC 8628 §3.5).
	CIBAInterval  = 5 * time.Second
	CIBASlowDown  = 5 * time.Second
	maxBindingMsg = 64
	notifyTimeout = 5 * time.Second
)

// CIBA request statuses.
const (
	cibaPending  = "pending"
	cibaDeciding = "deciding" // the PSU's decision is being recorded
	cibaApproved = "approved"
	cibaDenied   = "denied"
	cibaIssued   = "issued"
)

// checkCIBAMetadata checks a registration's CIBA metadata (CIBA Core §4):
// a client with the CIBA grant has poll or ping mode (poll by default); ping
// needs an https notification endpoint (dev also takes http on loopback)
// that is not one the bank never calls; no user codes.
func (s *Server) checkCIBAMetadata(m *Metadata) error {
	if !slices.Contains(m.GrantTypes, GrantCIBA) {
		return nil
	}
	if m.BackchannelTokenDeliveryMode == "" {
		m.BackchannelTokenDeliveryMode = CIBAPoll
	}
	switch m.BackchannelTokenDeliveryMode {
	case CIBAPoll:
	case CIBAPing:
		u, err := url.Parse(m.BackchannelClientNotificationEndpoint)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "":
			return errMetadata("backchannel_client_notification_endpoint: ping mode needs an absolute URL without user information or fragment")
		case u.Scheme == "http" && s.Dev() && isLoopback(u):
		case u.Scheme != "https":
			return errMetadata("backchannel_client_notification_endpoint must use https (http only on localhost, in the dev profile)")
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && (egress.Policy{AllowPrivate: true}).Refused(ip) != nil {
			return errMetadata("backchannel_client_notification_endpoint names an address the bank never calls")
		}
	default:
		return errMetadata("backchannel_token_delivery_mode: %q is not supported (poll or ping; FAPI-CIBA has no push)", m.BackchannelTokenDeliveryMode)
	}
	switch m.BackchannelAuthenticationRequestSigningAlg {
	case "", "PS256", "ES256":
	default:
		return errMetadata("backchannel_authentication_request_signing_alg: %q is not allowed (PS256 or ES256)", m.BackchannelAuthenticationRequestSigningAlg)
	}
	if m.BackchannelUserCodeParameter {
		return errMetadata("backchannel_user_code_parameter: the bank takes no user codes")
	}
	return nil
}

// cibaClaims are a signed backchannel authentication request's claims (CIBA
// Core §7.1, §7.1.1).
type cibaClaims struct {
	Scope                   string          `json:"scope"`
	ClientNotificationToken string          `json:"client_notification_token"`
	LoginHint               string          `json:"login_hint"`
	LoginHintToken          string          `json:"login_hint_token"`
	IDTokenHint             string          `json:"id_token_hint"`
	BindingMessage          string          `json:"binding_message"`
	RequestedExpiry         json.RawMessage `json:"requested_expiry"`
	Claims                  json.RawMessage `json:"claims"`
	// The UK OB CIBA profile's name for the intent outside claims.
	IntentID string `json:"openbanking-intent-id"`
	jwt.RegisteredClaims
}

// CIBAResponse is the backchannel authentication endpoint's answer (CIBA
// Core §7.3).
type CIBAResponse struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int    `json:"expires_in"`
	Interval  int    `json:"interval"`
}

func cibaErr(code, format string, args ...any) *Error {
	status := 400
	switch code {
	case "access_denied":
		status = 403
	case "invalid_client":
		status = 401
	}
	return oerr(status, code, format, args...)
}

// BackchannelAuthenticate takes an authenticated client's backchannel
// authentication request (CIBA Core §7): a signed request object (FAPI-CIBA
// 5.2.2-1) — iss the client, aud the issuer, iat, nbf, exp (the request
// object rules), a single-use jti — naming the PSU by exactly one hint
// (login_hint: the username; id_token_hint: an ID token the bank issued the
// client; login_hint_token: a JWT the client signed whose sub is the
// username) and the consent as claims.id_token.openbanking_intent_id.
func (s *Server) BackchannelAuthenticate(ctx context.Context, c *Client, form url.Values) (*CIBAResponse, error) {
	if !c.hasGrant(GrantCIBA) {
		return nil, cibaErr("unauthorized_client", "the client did not register the %s grant", GrantCIBA)
	}
	if name, bad := controlParam(form); bad {
		return nil, errInvalidRequest("parameter %q holds control characters or is not UTF-8", name)
	}
	raw := form.Get("request")
	if raw == "" {
		return nil, errInvalidRequest("a signed authentication request (request) is required (FAPI-CIBA 5.2.2-1)")
	}
	var rc cibaClaims
	algs := s.requestAlgs(c)
	if a := c.BackchannelAuthenticationRequestSigningAlg; a != "" {
		algs = []string{a}
	}
	err := parseJWT(raw, &rc, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			return []byte(c.secret), nil
		}
		return s.keyFor(ctx, c, t)
	}, jwt.WithValidMethods(algs), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return nil, errInvalidRequest("the authentication request is invalid: %v", err)
	}
	var all jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &all); err != nil {
		return nil, errInvalidRequest("the authentication request is invalid: %v", err)
	}
	if name, bad := controlClaim("", map[string]any(all)); bad {
		return nil, errInvalidRequest("the authentication request's %q holds control characters or is not UTF-8", name)
	}
	switch {
	case rc.Issuer != c.ClientID:
		return nil, errInvalidRequest("the authentication request's iss must be the client_id")
	case rc.IssuedAt == nil:
		return nil, errInvalidRequest("the authentication request needs an iat")
	case rc.ID == "":
		return nil, errInvalidRequest("the authentication request needs a jti")
	}
	if problem := s.requestJWTRules(rc.RegisteredClaims); problem != "" {
		return nil, errInvalidRequest("the authentication request's %s", problem)
	}
	if err := s.Store.UseJTI(ctx, "ciba:"+c.ClientID, rc.ID, rc.ExpiresAt.Time.Add(time.Minute), s.Clock.Wall()); err != nil {
		if errors.Is(err, bank.ErrConflict) {
			return nil, errInvalidRequest("the authentication request's jti was already used")
		}
		return nil, err
	}
	scopes := strings.Fields(rc.Scope)
	if !slices.Contains(scopes, "openid") {
		return nil, errInvalidScope("scope must include openid (CIBA Core §7.1)")
	}
	for _, sc := range scopes {
		if !slices.Contains(strings.Fields(c.Scope), sc) {
			return nil, errInvalidScope("the client did not register scope %q", sc)
		}
	}
	if c.BackchannelTokenDeliveryMode == CIBAPing && (rc.ClientNotificationToken == "" || len(rc.ClientNotificationToken) > 1024) {
		return nil, errInvalidRequest("client_notification_token is required in ping mode (at most 1024 characters)")
	}
	if utf8.RuneCountInString(rc.BindingMessage) > maxBindingMsg {
		return nil, cibaErr("invalid_binding_message", "binding_message is longer than %d characters", maxBindingMsg)
	}
	psu, err := s.cibaPSU(ctx, c, rc)
	if err != nil {
		return nil, err
	}
	expiry, err := requestedExpiry(rc.RequestedExpiry)
	if err != nil {
		return nil, err
	}
	intent, _ := intentOf(rc.Claims)
	if intent == "" {
		intent = rc.IntentID
	}
	if intent == "" {
		return nil, errInvalidRequest("claims.id_token.openbanking_intent_id is required")
	}
	cn, err := s.Store.Consent(ctx, intent)
	if errors.Is(err, bank.ErrNotFound) || (err == nil && (cn.Deleted || cn.ClientID != c.ClientID)) {
		return nil, errInvalidRequest("openbanking_intent_id is not a consent of this client")
	}
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	switch {
	case cn.Status != bank.StatusAwaitingAuthorisation:
		return nil, errInvalidRequest("the consent is %s, not AwaitingAuthorisation", cn.Status)
	case cn.Expired(now):
		return nil, errInvalidRequest("the consent has expired")
	case !slices.Contains(scopes, consentScope(cn.Kind)):
		return nil, errInvalidScope("a %s consent needs scope %q", cn.Kind, consentScope(cn.Kind))
	}
	id := randomToken()
	r := store.CIBARequest{ID: id, Handle: hash(id)[:32], ClientID: c.ClientID, ConsentID: cn.ID, PSU: psu, Scope: rc.Scope,
		BindingMessage: rc.BindingMessage, Mode: c.BackchannelTokenDeliveryMode, NotificationToken: rc.ClientNotificationToken,
		Status: cibaPending, Interval: CIBAInterval, CreatedAt: now, ExpiresAt: now.Add(expiry)}
	if err := s.Store.SaveCIBA(ctx, r); err != nil {
		return nil, err
	}
	return &CIBAResponse{AuthReqID: id, ExpiresIn: int(expiry / time.Second), Interval: int(CIBAInterval / time.Second)}, nil
}

// cibaPSU is the PSU a request's one hint names (CIBA Core §7.1).
func (s *Server) cibaPSU(ctx context.Context, c *Client, rc cibaClaims) (string, error) {
	if count(rc.LoginHint != "", rc.LoginHintToken != "", rc.IDTokenHint != "") != 1 {
		return "", errInvalidRequest("exactly one of login_hint, login_hint_token and id_token_hint is required")
	}
	var psu string
	switch {
	case rc.LoginHint != "":
		psu = rc.LoginHint
	case rc.LoginHintToken != "":
		var claims jwt.RegisteredClaims
		err := parseJWT(rc.LoginHintToken, &claims, func(t *jwt.Token) (any, error) { return s.keyFor(ctx, c, t) },
			jwt.WithValidMethods([]string{"PS256", "ES256"}), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(10*time.Second))
		if errors.Is(err, jwt.ErrTokenExpired) {
			return "", cibaErr("expired_login_hint_token", "the login_hint_token has expired")
		}
		if err != nil {
			return "", errInvalidRequest("login_hint_token must be a JWT the client signed, its sub the PSU's username: %v", err)
		}
		psu = claims.Subject
	default:
		// An ID token the bank issued to this client; its sub is the consent
		// it was issued for, whose PSU it names. It may have expired (OIDC
		// Core §3.1.2.1).
		var claims jwt.RegisteredClaims
		err := parseJWT(rc.IDTokenHint, &claims, s.Keys.keyfunc, jwt.WithValidMethods([]string{"PS256"}), jwt.WithIssuer(s.Issuer),
			jwt.WithAudience(c.ClientID), jwt.WithoutClaimsValidation())
		if err != nil || claims.Issuer != s.Issuer || !slices.Contains(claims.Audience, c.ClientID) {
			return "", errInvalidRequest("id_token_hint must be an ID token the bank issued to this client")
		}
		cn, err := s.Store.Consent(ctx, claims.Subject)
		if err != nil || cn.ClientID != c.ClientID || cn.PSU == "" {
			return "", cibaErr("unknown_user_id", "the id_token_hint names no PSU of this client")
		}
		psu = cn.PSU
	}
	ok, err := s.Store.PSUExists(ctx, psu)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", cibaErr("unknown_user_id", "the hint names no PSU of this bank")
	}
	return psu, nil
}

// requestedExpiry reads requested_expiry, a number of seconds or a string of
// one (CIBA Core §7.1.1), bounded by CIBAMaxExpiry.
func requestedExpiry(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return CIBADefaultExpiry, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, errInvalidRequest("requested_expiry must be a positive number of seconds")
	}
	return min(time.Duration(n)*time.Second, CIBAMaxExpiry), nil
}

// cibaGrant redeems an auth_req_id at the token endpoint (CIBA Core §10.1,
// §11): authorization_pending until the PSU decides, slow_down to a client
// polling sooner than the interval (which then grows), access_denied when
// the PSU said no, expired_token after the request's expiry on the sandbox
// clock; once approved, the tokens, once.
func (s *Server) cibaGrant(ctx context.Context, c *Client, p TokenParams, b binding) (*TokenResponse, error) {
	if p.AuthReqID == "" {
		return nil, errInvalidRequest("auth_req_id is missing")
	}
	now := s.Clock.Now()
	var refusal error
	r, err := s.Store.UpdateCIBA(ctx, p.AuthReqID, func(r *store.CIBARequest) error {
		switch {
		case r.ClientID != c.ClientID:
			return bank.ErrNotFound
		case r.Status == cibaIssued:
			refusal = errInvalidGrant("the auth_req_id was already used")
		case !now.Before(r.ExpiresAt):
			refusal = oerr(400, "expired_token", "the authentication request has expired: start a new one")
		case r.Status == cibaDenied:
			refusal = oerr(400, "access_denied", "%s", r.Reason)
		case r.Status == cibaApproved:
			r.Status = cibaIssued
			return nil
		case !r.PolledAt.IsZero() && now.Sub(r.PolledAt) < r.Interval:
			r.Interval += CIBASlowDown
			r.PolledAt = now
			refusal = oerr(400, "slow_down", "polled sooner than the interval: wait at least %d seconds between polls", int(r.Interval/time.Second))
		default:
			r.PolledAt = now
			refusal = oerr(400, "authorization_pending", "the PSU has not decided yet")
		}
		return nil
	})
	if errors.Is(err, bank.ErrNotFound) {
		return nil, errInvalidGrant("unknown auth_req_id")
	}
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, refusal
	}
	cn, err := s.Store.Consent(ctx, r.ConsentID)
	if err != nil {
		return nil, err
	}
	if !cn.Usable(now) {
		return nil, errInvalidGrant("the consent is no longer authorised")
	}
	return s.issueForConsent(ctx, c, &cn, grant{PSU: r.PSU, Scope: r.Scope, binding: b, Type: GrantCIBA, AuthTime: r.AuthTime})
}

// CIBAApproval is a decoupled authentication request as the PSU sees it.
type CIBAApproval struct {
	Request store.CIBARequest
	Client  *Client
	Consent *bank.Consent
}

// PendingApprovals lists the requests waiting for the PSU's decision.
func (s *Server) PendingApprovals(ctx context.Context, psu string) ([]CIBAApproval, error) {
	rs, err := s.Store.PendingCIBA(ctx, psu, s.Clock.Now())
	if err != nil {
		return nil, err
	}
	var out []CIBAApproval
	for _, r := range rs {
		a, err := s.approval(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, nil
}

// Approval loads the request the PSU acts on — by its auth_req_id (the
// headless PSU) or its handle (the pages) — if it is that PSU's and still
// waiting; otherwise the PSU is told neither whether it exists nor whose it
// is (403), or that it is over (400).
func (s *Server) Approval(ctx context.Context, psu, authReqID, handle string) (*CIBAApproval, error) {
	var r store.CIBARequest
	var err error
	if handle != "" {
		r, err = s.Store.CIBAByHandle(ctx, handle)
	} else {
		r, err = s.Store.CIBA(ctx, authReqID)
	}
	if errors.Is(err, bank.ErrNotFound) || (err == nil && r.PSU != psu) {
		return nil, bank.Errorf(bank.KindForbidden, "auth_req_id", "no authentication request of yours has that id")
	}
	if err != nil {
		return nil, err
	}
	if r.Status != cibaPending || !s.Clock.Now().Before(r.ExpiresAt) {
		return nil, errInvalidRequest("the authentication request is no longer waiting for a decision (decided or expired)")
	}
	return s.approval(ctx, r)
}

func (s *Server) approval(ctx context.Context, r store.CIBARequest) (*CIBAApproval, error) {
	c, err := s.Client(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	cn, err := s.Store.Consent(ctx, r.ConsentID)
	if err != nil {
		return nil, err
	}
	return &CIBAApproval{Request: r, Client: c, Consent: &cn}, nil
}

// DecideCIBA records the PSU's decision on a decoupled request (from
// Approval): on the consent as in the redirect flows, then on the request,
// which the TPP's next poll sees; in ping mode the bank then calls the
// client's notification endpoint (CIBA Core §10.2).
func (s *Server) DecideCIBA(ctx context.Context, a *CIBAApproval, d Decision) error {
	now := s.Clock.Now()
	// Claimed first, so that two decisions at once cannot both count.
	_, err := s.Store.UpdateCIBA(ctx, a.Request.ID, func(r *store.CIBARequest) error {
		if r.Status != cibaPending || !now.Before(r.ExpiresAt) {
			return errInvalidRequest("the authentication request is no longer waiting for a decision (decided or expired)")
		}
		r.Status = cibaDeciding
		return nil
	})
	if err != nil {
		return err
	}
	refused, err := s.settle(ctx, a.Consent, false, d)
	var ae *AuthorizeError
	if errors.As(err, &ae) || (refused != nil && refused.Code != "access_denied") {
		// The PSU's choice could not be taken (an account not theirs), or
		// the consent moved on meanwhile: nothing was decided.
		if ae == nil {
			ae = refused
		}
		err = errInvalidRequest("%s", ae.Description)
	}
	if err != nil {
		// The request waits for a decision again.
		s.Store.UpdateCIBA(context.WithoutCancel(ctx), a.Request.ID, func(r *store.CIBARequest) error {
			r.Status = cibaPending
			return nil
		})
		return err
	}
	status, reason := cibaApproved, ""
	if refused != nil {
		status, reason = cibaDenied, refused.Description
	}
	r, err := s.Store.UpdateCIBA(ctx, a.Request.ID, func(r *store.CIBARequest) error {
		r.Status, r.Reason, r.DecidedAt = status, reason, now
		if status == cibaApproved {
			r.AuthTime = s.Clock.Wall()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.Mode == CIBAPing {
		s.notify(ctx, a.Client, r)
	}
	return nil
}

// notify tells a ping-mode client its request is decided (CIBA Core §10.2):
// a POST of {"auth_req_id"} with the client notification token as bearer
// token, through the guarded client (no redirects, no link-local or
// metadata addresses). A failure is logged: the client can still poll.
func (s *Server) notify(ctx context.Context, c *Client, r store.CIBARequest) {
	hc := s.Notify
	if hc == nil {
		hc = NotifyClient(nil)
	}
	body, _ := json.Marshal(map[string]string{"auth_req_id": r.ID})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelClientNotificationEndpoint, bytes.NewReader(body))
	if err != nil {
		s.Log.WarnContext(ctx, "CIBA ping: bad notification endpoint", "client_id", c.ClientID, "error", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.NotificationToken)
	resp, err := hc.Do(req)
	if err != nil {
		s.Log.WarnContext(ctx, "CIBA ping failed", "client_id", c.ClientID, "error", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.Log.WarnContext(ctx, "CIBA ping refused", "client_id", c.ClientID, "status", resp.StatusCode)
	}
}

// NotifyClient is the client CIBA pings go out through: the egress guard
// (loopback and private addresses allowed, as for event notifications: the
// TPP under test runs beside the sandbox), trusting the system's roots and
// extraPEM (the development CA).
func NotifyClient(extraPEM []byte) *http.Client {
	return egress.NewClient(egress.Policy{AllowPrivate: true}, egress.SystemRootsAnd(extraPEM), notifyTimeout)
}
