package psu

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Decoupled authentication (OpenID CIBA Core 1.0): the backchannel
// authentication endpoint, and the PSU's side — the approvals waiting in the
// bank's pages, and the headless PSU's auth_req_id.

// headlessCIBA is the headless PSU approving (or denying) a decoupled
// request by its auth_req_id: 204, as the PSU's phone would say nothing to
// the TPP.
func (s *Server) headlessCIBA(c echo.Context, r headlessRequest) error {
	ctx := c.Request().Context()
	if err := s.LoginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message, Rule: "psu.login_failed"}
		}
		return err
	}
	a, err := s.Auth.Approval(ctx, r.Username, r.AuthReqID, "")
	if err != nil {
		return err
	}
	c.Set(httpx.KeyClient, a.Client.ClientID)
	d := s.PSUDecision(c, a.Consent, oauth.Decision{PSU: r.Username, Approve: r.Decision == "approve", Accounts: r.Accounts})
	if err := s.Auth.DecideCIBA(ctx, a, d); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// approvalPage shows a decoupled request waiting for the logged-in PSU, as
// the consent page shows a redirect one, with the binding message to compare
// with the app's.
func (s *Server) approvalPage(c echo.Context) error {
	sess, ok := s.appsSession(c)
	if !ok {
		return s.appsLoginPage(c, http.StatusOK, "", "")
	}
	if isBerlin(c.Param("handle")) {
		return s.bgApprovalPage(c, sess.Username, sess.CSRF)
	}
	return s.approvalForm(c, http.StatusOK, sess.Username, sess.CSRF, "")
}

func (s *Server) approvalForm(c echo.Context, status int, psu, csrf, msg string) error {
	ctx := c.Request().Context()
	a, err := s.Auth.Approval(ctx, psu, "", c.Param("handle"))
	if err != nil {
		return s.Page(c, http.StatusBadRequest, "error.html", map[string]any{"Title": "This request cannot be completed",
			"Code": "invalid_request", "Description": "This request is not waiting for you: it was decided, has expired, or is not yours."})
	}
	data, err := s.consentView(ctx, a.Consent, a.Client, psu)
	if err != nil {
		return err
	}
	data["Action"], data["CSRF"], data["Error"] = s.At("/psu/approvals/"+c.Param("handle")+"/decision"), csrf, msg
	data["BindingMessage"] = a.Request.BindingMessage
	return s.Page(c, status, "consent.html", data)
}

func (s *Server) approvalDecision(c echo.Context) error {
	sess, ok := s.appsSession(c)
	if !ok {
		return s.appsLoginPage(c, http.StatusUnauthorized, "", "Please log in again.")
	}
	if !csrfOK(c, sess.CSRF) {
		return s.ErrorPage(c, errCSRF)
	}
	if isBerlin(c.Param("handle")) {
		notice, err := s.bgApprovalDecision(c, sess.Username)
		if err != nil {
			return err
		}
		return s.renderApps(c, sess, notice)
	}
	ctx := c.Request().Context()
	a, err := s.Auth.Approval(ctx, sess.Username, "", c.Param("handle"))
	if err != nil {
		return s.renderApps(c, sess, "That request is no longer waiting for you.")
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	d := oauth.Decision{PSU: sess.Username, Approve: form.Get("decision") == "approve", Accounts: form["accounts"]}
	if d.Approve && len(d.Accounts) == 0 {
		return s.approvalForm(c, http.StatusBadRequest, sess.Username, sess.CSRF, "Choose at least one account.")
	}
	c.Set(httpx.KeyClient, a.Client.ClientID)
	if err := s.Auth.DecideCIBA(ctx, a, s.PSUDecision(c, a.Consent, d)); err != nil {
		return s.renderApps(c, sess, "That request could not be completed: "+err.Error())
	}
	what := "denied"
	if d.Approve {
		what = "approved"
	}
	return s.renderApps(c, sess, "You "+what+" the request of "+clientName(a.Client)+". You can return to the app.")
}

// pendingApproval is a decoupled request as the connected-apps page lists
// it.
type pendingApproval struct {
	Handle, Client, BindingMessage, What string
}

// pendingApprovals lists the decoupled requests waiting for the PSU.
func (s *Server) pendingApprovals(ctx context.Context, psu string) ([]pendingApproval, error) {
	as, err := s.Auth.PendingApprovals(ctx, psu)
	if err != nil {
		return nil, err
	}
	var out []pendingApproval
	for _, a := range as {
		what := "see information about your accounts"
		switch {
		case a.Consent.Kind == bank.ConsentFundsConfirmation:
			what = "check whether your account can cover amounts"
		case a.Consent.IsPayment():
			what = "make a payment from your account"
		case a.Consent.IsVRP():
			what = "make payments from your account within limits you agree"
		}
		out = append(out, pendingApproval{Handle: a.Request.Handle, Client: clientName(a.Client), BindingMessage: a.Request.BindingMessage, What: what})
	}
	bg, err := s.bgPendingApprovals(ctx, psu)
	return append(out, bg...), err
}
