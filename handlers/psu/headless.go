package psu

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
)

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
	if err := httpx.BindStrict(c, &r); err != nil {
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
		return s.headlessBerlinDecoupled(c, r)
	}
	u, err := url.Parse(r.AuthorizeURL)
	if err == nil && strings.Contains(u.Path, "/psu/berlin/") {
		return s.headlessBerlinRedirect(c, r, u) // a Berlin Group scaRedirect URL
	}
	if err != nil || !strings.HasSuffix(u.Path, oauth.PathAuthorize) {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "authorize_url must be the authorization endpoint URL with its query"}
	}
	ctx := c.Request().Context()
	c.Set(httpx.KeyPSU, httpx.Truncate(r.Username, 64))
	ar, err := s.Auth.ParseAuthorize(ctx, u.Query())
	if err != nil {
		return s.headlessFailed(c, err)
	}
	c.Set(httpx.KeyClient, ar.Client.ClientID)
	if err := s.LoginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message, Rule: "psu.login_failed"}
		}
		return err
	}
	d := s.PSUDecision(c, ar.Consent, oauth.Decision{PSU: r.Username, Approve: r.Decision == "approve", Accounts: r.Accounts})
	to, err := s.Auth.Decide(ctx, ar, d)
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
		return c.JSON(http.StatusOK, map[string]string{"redirect_to": s.Auth.ErrorRedirect(ae)})
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
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.LoginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message}
		}
		return err
	}
	if err := s.Auth.RevokeByPSU(ctx, r.Username, r.ConsentID); err != nil {
		if bank.KindOf(err) == bank.KindForbidden {
			return &oauth.Error{Status: http.StatusForbidden, Code: "access_denied", Description: err.Error()}
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
