package handlers

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
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
		tok, ok := bearer(c.Request())
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token",
				Description: "the admin token is required: Authorization: Bearer <admin token>", Challenge: `Bearer realm="sandbox"`}
		}
		return next(c)
	}
}

// bindStrict decodes a JSON body, refusing unknown fields.
func bindStrict(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if tooLarge(err) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be a JSON object with the documented fields: " + err.Error()}
	}
	return nil
}

type headlessRequest struct {
	AuthorizeURL string   `json:"authorize_url"`
	Username     string   `json:"username"`
	Password     string   `json:"password"`
	Decision     string   `json:"decision"`
	Accounts     []string `json:"accounts"`
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
	u, err := url.Parse(r.AuthorizeURL)
	if err != nil || !strings.HasSuffix(u.Path, oauth.PathAuthorize) {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "authorize_url must be the authorization endpoint URL with its query"}
	}
	ctx := c.Request().Context()
	ar, err := s.auth.ParseAuthorize(ctx, u.Query())
	if err != nil {
		return s.headlessFailed(c, err)
	}
	if err := s.auth.LoginPSU(ctx, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message}
		}
		return err
	}
	to, err := s.auth.Decide(ctx, ar, oauth.Decision{PSU: r.Username, Approve: r.Decision == "approve", Accounts: r.Accounts})
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
	if err := s.auth.LoginPSU(ctx, r.Username, r.Password); err != nil {
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

// ParseAdvance reads a clock advance: a Go duration ("36h", "90m") or whole
// days ("3d"); zero, negative or unparseable is an error.
func ParseAdvance(v string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d <= 0 {
		return 0, errors.New(`advance must be a positive Go duration ("36h") or a number of days ("3d")`)
	}
	return d, nil
}

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
	s.clock.Advance(d)
	ctx := c.Request().Context()
	if err := s.store.SetSetting(ctx, "clock_offset", s.clock.Offset().String()); err != nil {
		return err
	}
	// Everything due by the new time happens before the answer.
	if err := s.catchUp(ctx); err != nil {
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
	if s.limits != nil {
		s.limits.Reset()
	}
	s.unattended.Reset()
	return c.NoContent(http.StatusNoContent)
}
