package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
)

// mountSandbox adds the sandbox's own endpoints (SPEC §4.5, §8). The
// /sandbox/psu/... ones act as the PSU and take the PSU's credentials; every
// other one needs the admin token.
func (s *Server) mountSandbox(e *echo.Echo) {
	login := s.limitIP(gateway.ClassLogin)
	e.POST("/sandbox/psu/authorize", s.headlessAuthorize, noStore, login)
	e.POST("/sandbox/psu/revoke", s.headlessRevoke, noStore, login)
	admin := e.Group("/sandbox", s.requireAdmin, noStore)
	admin.GET("/psus", s.listPSUs)
	admin.GET("/clock", s.getClock)
	admin.POST("/clock", s.advanceClock)
	admin.POST("/reset", s.reset)
	admin.POST("/directory/software-statements", s.issueSSA)
	admin.POST("/keys/rotate", s.rotateKeys)
	admin.POST("/certs", s.issueCert)
	e.GET("/sandbox/certs/ca.pem", s.caCert)
	admin.GET("/audit", s.listAudit)
	admin.GET("/audit/export", s.exportAudit)
	admin.GET("/audit/verify", s.verifyAudit)
	admin.GET("/audit/head", s.auditHead)
	admin.GET("/audit/refused", s.refusedTraffic)
	admin.GET("/security-events", s.listSecurityEvents)
	admin.POST("/clients/:client_id/suspend", s.suspendClient)
	admin.POST("/clients/:client_id/unsuspend", s.unsuspendClient)
	s.mountPProf(admin)
	s.mountScenarios(admin)
	s.mountSnapshots(admin)
	s.mountTenants(admin)
}

// rotateKeys makes a new bank signing key; the previous ones keep
// verifying (and stay in the JWKS) until they are dropped a day later.
func (s *Server) rotateKeys(c echo.Context) error {
	ctx := c.Request().Context()
	if err := oauth.RotateKeys(ctx, s.store, s.clock.Now()); err != nil {
		return err
	}
	if err := s.auth.Keys.Reload(ctx, s.store); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"kid": s.auth.Keys.KID()})
}

// issueSSA plays the Open Banking Directory: it signs a software statement
// for a TPP's software, to register with in the fapi profile.
func (s *Server) issueSSA(c echo.Context) error {
	var r struct {
		ClientName   string              `json:"software_client_name"`
		RedirectURIs []string            `json:"software_redirect_uris"`
		Roles        []string            `json:"software_roles"`
		JWKS         *jose.JSONWebKeySet `json:"software_jwks"`
		OrgName      string              `json:"org_name"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	if r.JWKS == nil || len(r.JWKS.Keys) == 0 || len(r.RedirectURIs) == 0 {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "software_jwks and software_redirect_uris are required"}
	}
	if len(r.Roles) == 0 {
		r.Roles = []string{"AISP", "PISP", "CBPII"}
	}
	ssa := oauth.SoftwareStatement{SoftwareClientName: r.ClientName, SoftwareRedirectURIs: r.RedirectURIs, SoftwareRoles: r.Roles,
		SoftwareJWKS: r.JWKS, OrgName: r.OrgName}
	signed, err := s.auth.IssueSoftwareStatement(ssa)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"software_statement": signed})
}

func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Request().URL.Path, "/sandbox/psu/") {
			return next(c)
		}
		if !s.isAdmin(c.Request()) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token",
				Description: "the admin token is required: Authorization: Bearer <admin token>", Challenge: `Bearer realm="sandbox"`}
		}
		authenticated(c)
		return next(c)
	}
}

// bindStrict decodes a JSON body, refusing unknown fields, duplicate keys
// and data after the object.
func bindStrict(c echo.Context, v any) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkOAuthBody(raw, "invalid_request"); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be a JSON object with the documented fields: " + err.Error()}
	}
	return nil
}

type headlessRequest struct {
	AuthorizeURL string `json:"authorize_url"`
	AuthReqID    string `json:"auth_req_id"` // a decoupled (CIBA) request
	// AuthorisationURL is a Berlin Group decoupled authorisation resource.
	AuthorisationURL string   `json:"authorisation_url"`
	Username         string   `json:"username"`
	Password         string   `json:"password"`
	Decision         string   `json:"decision"`
	Accounts         []string `json:"accounts"`
}

// headlessAuthorize is the PSU in CI (SPEC §4.3): the same checks as the
// browser journey, answered with the URL the browser would be sent to.
func (s *Server) headlessAuthorize(c echo.Context) error {
	var r headlessRequest
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	if r.Decision != "approve" && r.Decision != "deny" {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: `decision must be "approve" or "deny"`}
	}
	switch n := len(slices.DeleteFunc([]string{r.AuthorizeURL, r.AuthReqID, r.AuthorisationURL}, func(v string) bool { return v == "" })); {
	case n != 1:
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "send exactly one of authorize_url, auth_req_id and authorisation_url"}
	case r.AuthReqID != "":
		return s.headlessCIBA(c, r)
	case r.AuthorisationURL != "":
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "authorisation_url (Berlin Group decoupled authorisation) is not served by this sandbox"}
	}
	u, err := url.Parse(r.AuthorizeURL)
	if err != nil || !strings.HasSuffix(u.Path, oauth.PathAuthorize) {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "authorize_url must be the authorization endpoint URL with its query"}
	}
	ctx := c.Request().Context()
	c.Set(keyPSU, truncate(r.Username, 64))
	ar, err := s.auth.ParseAuthorize(ctx, u.Query())
	if err != nil {
		return s.headlessFailed(c, err)
	}
	c.Set(keyClient, ar.Client.ClientID)
	if err := s.loginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message, Rule: "psu.login_failed"}
		}
		return err
	}
	d := s.psuDecision(c, ar.Consent, oauth.Decision{PSU: r.Username, Approve: r.Decision == "approve", Accounts: r.Accounts})
	to, err := s.auth.Decide(ctx, ar, d)
	if err != nil {
		return s.headlessFailed(c, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect_to": to})
}

func (s *Server) headlessFailed(c echo.Context, err error) error {
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) {
		return err
	}
	if ae.Redirect {
		return c.JSON(http.StatusOK, map[string]string{"redirect_to": s.auth.ErrorRedirect(ae)})
	}
	return &oauth.Error{Status: http.StatusBadRequest, Code: ae.Code, Description: ae.Description}
}

// headlessRevoke is the twin of the PSU's connected-apps page (SPEC §8).
func (s *Server) headlessRevoke(c echo.Context) error {
	var r struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		ConsentID string `json:"consent_id"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.loginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message}
		}
		return err
	}
	if err := s.auth.RevokeByPSU(ctx, r.Username, r.ConsentID); err != nil {
		if bank.KindOf(err) == bank.KindForbidden {
			return &oauth.Error{Status: http.StatusForbidden, Code: "access_denied", Description: err.Error()}
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type psuAccount struct {
	AccountID      string `json:"AccountId"`
	Currency       string `json:"Currency"`
	AccountSubType string `json:"AccountSubType"`
	Nickname       string `json:"Nickname"`
}

type psuView struct {
	Username string       `json:"username"`
	Password string       `json:"password"`
	Accounts []psuAccount `json:"accounts"`
}

func (s *Server) listPSUs(c echo.Context) error {
	psus, err := s.store.PSUs(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]psuView, 0, len(psus))
	for _, p := range psus {
		v := psuView{Username: p.Username, Password: p.Password, Accounts: []psuAccount{}}
		for _, a := range p.Accounts {
			v.Accounts = append(v.Accounts, psuAccount{AccountID: a.ID, Currency: a.Currency, AccountSubType: a.SubType, Nickname: a.Nickname})
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"psus": out})
}

func (s *Server) clockView(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339), "offset": s.clock.Offset().String()})
}

func (s *Server) getClock(c echo.Context) error { return s.clockView(c) }

// ParseAdvance reads a clock advance (or a delay): a Go duration ("36h",
// "90m") or whole days ("3d"), at most clock.MaxOffset; zero, negative,
// unparseable or longer is an error.
func ParseAdvance(v string) (time.Duration, error) {
	const day = 24 * time.Hour
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int64
		if days, err = strconv.ParseInt(n, 10, 64); err == nil && days > int64(clock.MaxOffset/day) {
			return 0, errTooFar
		}
		d = time.Duration(days) * day
	} else if d, err = time.ParseDuration(v); err == nil && d > clock.MaxOffset {
		return 0, errTooFar
	}
	if err != nil || d <= 0 {
		return 0, errors.New(`advance must be a positive Go duration ("36h") or a number of days ("3d")`)
	}
	return d, nil
}

var errTooFar = fmt.Errorf("the sandbox clock runs at most 100 years (%dd) ahead of real time", clock.MaxOffset/(24*time.Hour))

func (s *Server) advanceClock(c echo.Context) error {
	var r struct {
		Advance string `json:"advance"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	d, err := ParseAdvance(r.Advance)
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	if _, err := s.clock.Advance(d); err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	ctx := c.Request().Context()
	if err := s.store.SetSetting(ctx, "clock_offset", s.clock.Offset().String()); err != nil {
		return err
	}
	// Everything due by the new time happens before the answer.
	if err := s.bank.CatchUp(ctx); err != nil {
		return err
	}
	return s.clockView(c)
}

func (s *Server) reset(c echo.Context) error {
	if s.deps.Reset == nil {
		return errors.New("reset is not wired")
	}
	if err := s.deps.Reset(c.Request().Context()); err != nil {
		return err
	}
	s.forget()
	return c.NoContent(http.StatusNoContent)
}

// forget drops what the handlers counted in memory (rate limits, the
// unattended limit, failed client authentications, anomaly state, scenario
// call counts) after a reset or a restore.
func (s *Server) forget() {
	if s.limits != nil {
		s.limits.Reset()
	}
	s.unattended.Reset()
	if s.auth.AuthFailures != nil {
		s.auth.AuthFailures.Reset()
	}
	if s.deps.Detector != nil {
		s.deps.Detector.Reset()
	}
	s.dataCalls.reset()
}

// listAudit queries the audit trail: ?client_id= &consent_id=
// &interaction_id= &decision=allowed|refused &after= (seq) &limit= (1..10000).
func (s *Server) listAudit(c echo.Context) error {
	q := store.AuditQuery{ClientID: c.QueryParam("client_id"), ConsentID: c.QueryParam("consent_id"),
		InteractionID: c.QueryParam("interaction_id"), Decision: c.QueryParam("decision")}
	var err error
	if q.AfterSeq, err = queryInt(c, "after", 0); err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 1000)
	if err != nil {
		return err
	}
	q.Limit = int(limit)
	s.flushAudit()
	entries, err := s.store.Audit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

func queryInt(c echo.Context, name string, def int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: name + " must be a whole number"}
	}
	return n, nil
}

// exportAudit streams the trail as JSON lines (?after= to resume).
func (s *Server) exportAudit(c echo.Context) error {
	after, err := queryInt(c, "after", 0)
	if err != nil {
		return err
	}
	s.flushAudit()
	c.Response().Header().Set("Content-Type", "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	return s.store.ExportAudit(c.Request().Context(), c.Response(), after)
}

func (s *Server) verifyAudit(c echo.Context) error {
	s.flushAudit()
	r, err := s.store.VerifyAudit(c.Request().Context(), nil)
	if err != nil {
		return c.JSON(http.StatusConflict, map[string]any{"valid": false, "entries_checked": r.Audit.Entries, "report": r, "problem": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"valid": true, "entries_checked": r.Audit.Entries, "report": r})
}

// auditHead answers both chains' heads, signed by the bank: save it
// outside the sandbox and `sandbox audit verify --head FILE` later shows
// whether entries were cut off or replaced since.
func (s *Server) auditHead(c echo.Context) error {
	s.flushAudit()
	h, err := s.store.AuditHead(c.Request().Context())
	if err != nil {
		return err
	}
	signed, err := audit.SignHead(h, s.auth.Keys, s.cfg.Issuer, s.clock.Wall())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, signed)
}

// refusedTraffic lists refused traffic from callers who proved nothing,
// counted per minute, source and rule (?since= RFC 3339, &limit=).
func (s *Server) refusedTraffic(c echo.Context) error {
	since := time.Time{}
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "since must be an RFC 3339 time"}
		}
		since = t
	}
	limit, err := queryInt(c, "limit", 1000)
	if err != nil {
		return err
	}
	s.flushAudit()
	counts, err := s.store.RefusedTraffic(c.Request().Context(), since, int(limit))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"refused": counts})
}

func (s *Server) listSecurityEvents(c echo.Context) error {
	s.flushAudit()
	evs, err := s.store.SecurityEvents(c.Request().Context(), c.QueryParam("client_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": evs})
}

// suspendClient stops a client: its tokens answer 403 with the reason, its
// client authentication fails, until unsuspended.
func (s *Server) suspendClient(c echo.Context) error {
	var r struct {
		Reason string `json:"reason"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	if r.Reason == "" {
		r.Reason = "suspended by the administrator"
	}
	return s.setSuspension(c, truncate(r.Reason, 200))
}

// unsuspendClient lifts a suspension. The anomaly rules then forget what
// they remembered of the client — after taking in everything recorded so
// far — so that the behaviour that suspended it, repeated, is detected again.
func (s *Server) unsuspendClient(c echo.Context) error {
	if s.deps.Detector != nil {
		s.flushAudit()
		s.deps.Detector.Forget(c.Param("client_id"))
	}
	return s.setSuspension(c, "")
}

func (s *Server) setSuspension(c echo.Context, reason string) error {
	if err := s.store.SetSuspension(c.Request().Context(), c.Param("client_id"), reason); err != nil {
		if errors.Is(err, bank.ErrNotFound) {
			return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such client"}
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// flushAudit makes the audit trail and security events current.
func (s *Server) flushAudit() {
	if s.auditor != nil {
		s.auditor.Flush()
	}
}

// caCert serves the development CA's root certificate (public): clients
// trust it to reach the sandbox over TLS.
func (s *Server) caCert(c echo.Context) error {
	if s.deps.CA == nil {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "the sandbox runs without TLS (start it with --tls)"}
	}
	return c.Blob(http.StatusOK, "application/x-pem-file", s.deps.CA.CertPEM)
}

// issueCert issues a TPP certificate from the development CA: a transport
// certificate (mutual TLS, tls_client_auth) or a signing one; expired or
// revoked on request, to test failure.
func (s *Server) issueCert(c echo.Context) error {
	if s.deps.CA == nil {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "the sandbox runs without TLS (start it with --tls)"}
	}
	var r struct {
		CommonName   string `json:"common_name"`
		Organisation string `json:"organisation"`
		OrgUnit      string `json:"organisational_unit"`
		Kind         string `json:"kind"` // transport (default) | signing
		Expired      bool   `json:"expired"`
		Revoked      bool   `json:"revoked"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	if r.CommonName == "" || (r.Kind != "" && r.Kind != "transport" && r.Kind != "signing") {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "common_name is required; kind is transport or signing"}
	}
	is, err := s.deps.CA.Issue(c.Request().Context(), pki.Request{CommonName: r.CommonName, Organisation: r.Organisation, OrgUnit: r.OrgUnit,
		Signing: r.Kind == "signing", Expired: r.Expired, Revoked: r.Revoked}, s.clock.Wall())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"certificate_pem": string(is.CertPEM), "private_key_pem": string(is.KeyPEM),
		"subject_dn": is.SubjectDN, "x5t#S256": is.X5tS256, "serial": is.Serial, "not_after": is.NotAfter.Format(time.RFC3339)})
}
