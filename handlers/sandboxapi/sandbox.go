package sandboxapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
)

// mountSandbox adds the sandbox's own endpoints (SPEC §4.5, §8). The
// /sandbox/psu/... ones act as the PSU and take the PSU's credentials; every
// other one needs the admin token.
func (s *Server) mountSandbox(e *echo.Echo) {
	// A reset through a replica sharing the database: this one forgets
	// what it counted in memory too, as that one did (a reconnection
	// tells every setting again: only a value this process has not seen,
	// nor written itself, is a reset).
	if v, err := s.Store.Setting(context.Background(), store.SettingReset); err == nil {
		s.resets.changed(v)
	}
	s.Store.OnSetting(store.SettingReset, func(v string) {
		if s.resets.changed(v) {
			s.Forget()
		}
	})
	admin := e.Group("/sandbox", s.RequireAdmin, httpx.NoStore)
	admin.GET("/psus", s.listPSUs)
	admin.GET("/clock", s.getClock)
	admin.POST("/clock", s.advanceClock)
	admin.POST("/reset", s.reset)
	admin.POST("/directory/software-statements", s.issueSSA)
	admin.POST("/keys/rotate", s.rotateKeys)
	admin.POST("/keys/rotate-data-key", s.rotateDataKey)
	admin.GET("/secrets", s.sealedSecrets)
	admin.GET("/siem", s.siemStats)
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
	s.mountPSUs(admin)
	s.mountIncidents(e, admin)
}

// rotateKeys makes a new bank signing key; the previous ones keep
// verifying (and stay in the JWKS) until they are dropped a day later.
func (s *Server) rotateKeys(c echo.Context) error {
	ctx := c.Request().Context()
	if err := oauth.RotateKeys(ctx, s.Store, s.Clock.Now()); err != nil {
		return err
	}
	if err := s.Auth.KeysChanged(ctx); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"kid": s.Auth.Keys.KID()})
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
	if err := httpx.BindStrict(c, &r); err != nil {
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
	signed, err := s.Auth.IssueSoftwareStatement(ssa)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"software_statement": signed})
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
	psus, err := s.Store.PSUs(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]psuView, 0, len(psus))
	for _, p := range psus {
		pw, _ := s.Auth.TestPassword(p.Username, p.PasswordHash) // from the fixtures: the bank keeps hashes only
		out = append(out, listed(p, pw))
	}
	return c.JSON(http.StatusOK, map[string]any{"psus": out})
}

func (s *Server) clockView(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"now": s.Clock.Now().Format(time.RFC3339), "offset": s.Clock.Offset().String()})
}

func (s *Server) getClock(c echo.Context) error { return s.clockView(c) }

func (s *Server) advanceClock(c echo.Context) error {
	var r struct {
		Advance string `json:"advance"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	d, err := clock.ParseAdvance(r.Advance)
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	if _, err := s.Clock.Advance(d); err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	ctx := c.Request().Context()
	if err := s.Store.SetSetting(ctx, "clock_offset", s.Clock.Offset().String()); err != nil {
		return err
	}
	// Everything due by the new time happens before the answer.
	if err := s.Bank.CatchUp(ctx); err != nil {
		return err
	}
	return s.clockView(c)
}

func (s *Server) reset(c echo.Context) error {
	if s.Deps.Reset == nil {
		return errors.New("reset is not wired")
	}
	if err := s.Deps.Reset(c.Request().Context()); err != nil {
		return err
	}
	if v, err := s.Store.Setting(c.Request().Context(), store.SettingReset); err == nil {
		s.resets.changed(v) // this process's own reset: told again on a reconnection, it is not another
	}
	s.Forget()
	return c.NoContent(http.StatusNoContent)
}

// listAudit queries the audit trail: ?client_id= &consent_id=
// &interaction_id= &decision=allowed|refused &after= (seq) &limit= (1..10000).
func (s *Server) listAudit(c echo.Context) error {
	q := store.AuditQuery{ClientID: c.QueryParam("client_id"), ConsentID: c.QueryParam("consent_id"),
		InteractionID: c.QueryParam("interaction_id"), Decision: c.QueryParam("decision")}
	var err error
	if q.AfterSeq, err = httpx.QueryInt(c, "after", 0); err != nil {
		return err
	}
	limit, err := httpx.QueryInt(c, "limit", 1000)
	if err != nil {
		return err
	}
	q.Limit = int(limit)
	s.FlushAudit()
	entries, err := s.Store.Audit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

// exportAudit streams the trail as JSON lines (?after= to resume).
func (s *Server) exportAudit(c echo.Context) error {
	after, err := httpx.QueryInt(c, "after", 0)
	if err != nil {
		return err
	}
	s.FlushAudit()
	c.Response().Header().Set("Content-Type", "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	return s.Store.ExportAudit(c.Request().Context(), c.Response(), after)
}

func (s *Server) verifyAudit(c echo.Context) error {
	s.FlushAudit()
	r, err := s.Store.VerifyAudit(c.Request().Context(), nil)
	if err != nil {
		return c.JSON(http.StatusConflict, map[string]any{"valid": false, "entries_checked": r.Audit.Entries, "report": r, "problem": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"valid": true, "entries_checked": r.Audit.Entries, "report": r})
}

// auditHead answers both chains' heads, signed by the bank: save it
// outside the sandbox and `sandbox audit verify --head FILE` later shows
// whether entries were cut off or replaced since.
func (s *Server) auditHead(c echo.Context) error {
	s.FlushAudit()
	h, err := s.Store.AuditHead(c.Request().Context())
	if err != nil {
		return err
	}
	signed, err := audit.SignHead(h, s.Auth.Keys, s.Cfg.Issuer, s.Clock.Wall())
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
	limit, err := httpx.QueryInt(c, "limit", 1000)
	if err != nil {
		return err
	}
	s.FlushAudit()
	counts, err := s.Store.RefusedTraffic(c.Request().Context(), since, int(limit))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"refused": counts})
}

func (s *Server) listSecurityEvents(c echo.Context) error {
	s.FlushAudit()
	evs, err := s.Store.SecurityEvents(c.Request().Context(), c.QueryParam("client_id"))
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
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	if r.Reason == "" {
		r.Reason = "suspended by the administrator"
	}
	return s.setSuspension(c, httpx.Truncate(r.Reason, 200))
}

// unsuspendClient lifts a suspension. The anomaly rules then forget what
// they remembered of the client — after taking in everything recorded so
// far — so that the behaviour that suspended it, repeated, is detected again.
func (s *Server) unsuspendClient(c echo.Context) error {
	if s.Deps.Detector != nil {
		s.FlushAudit()
		s.Deps.Detector.Forget(c.Param("client_id"))
	}
	return s.setSuspension(c, "")
}

func (s *Server) setSuspension(c echo.Context, reason string) error {
	if err := s.Store.SetSuspension(c.Request().Context(), c.Param("client_id"), reason); err != nil {
		if errors.Is(err, bank.ErrNotFound) {
			return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such client"}
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// caCert serves the development CA's root certificate (public): clients
// trust it to reach the sandbox over TLS, and it signs TPP certificates.
func (s *Server) caCert(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/x-pem-file", s.Deps.CA.CertPEM)
}

// issueCert issues a TPP certificate from the development CA: a transport
// certificate (mutual TLS, tls_client_auth) — with "roles", a PSD2 QWAC
// naming the TPP's organisation (Berlin Group identifies TPPs by it) — or a
// signing one; expired or revoked on request, to test failure. It works
// with or without --tls.
func (s *Server) issueCert(c echo.Context) error {
	var r struct {
		CommonName   string   `json:"common_name"`
		Organisation string   `json:"organisation"`
		OrgUnit      string   `json:"organisational_unit"`
		Kind         string   `json:"kind"` // transport (default) | signing
		Expired      bool     `json:"expired"`
		Revoked      bool     `json:"revoked"`
		Roles        []string `json:"roles"`           // PSP_AS, PSP_PI, PSP_AI, PSP_IC
		OrgID        string   `json:"organisation_id"` // a QWAC's; assigned when absent
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	if r.CommonName == "" || (r.Kind != "" && r.Kind != "transport" && r.Kind != "signing") {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "common_name is required; kind is transport or signing"}
	}
	for _, role := range r.Roles {
		if !slices.Contains(pki.Roles, role) {
			return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "roles are PSD2 roles: PSP_AS, PSP_PI, PSP_AI, PSP_IC"}
		}
	}
	if r.OrgID != "" && (len(r.Roles) == 0 || !pki.OrgIDPattern.MatchString(r.OrgID)) {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "organisation_id goes with roles and reads PSD<country>-<authority>-<number>, e.g. PSDGB-SBX-12345678"}
	}
	if r.Kind == "signing" && len(r.Roles) > 0 {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "a QWAC (roles) is a transport certificate"}
	}
	is, err := s.Deps.CA.Issue(c.Request().Context(), pki.Request{CommonName: r.CommonName, Organisation: r.Organisation, OrgUnit: r.OrgUnit,
		Signing: r.Kind == "signing", Expired: r.Expired, Revoked: r.Revoked, Roles: r.Roles, OrgID: r.OrgID}, s.Clock.Wall())
	if err != nil {
		return err
	}
	out := map[string]any{"certificate_pem": string(is.CertPEM), "private_key_pem": string(is.KeyPEM),
		"subject_dn": is.SubjectDN, "x5t#S256": is.X5tS256, "serial": is.Serial, "not_after": is.NotAfter.Format(time.RFC3339)}
	if len(r.Roles) > 0 {
		out["organisation_id"], out["roles"], out["certificate_base64"] = is.OrgID, r.Roles, pki.DERBase64(is.CertPEM)
	}
	return c.JSON(http.StatusCreated, out)
}
