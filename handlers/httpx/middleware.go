package httpx

import (
	"context"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Context keys, with accessors below.
const (
	keyInteraction = "sandbox.interaction"
	keyPrincipal   = "sandbox.principal"
	keyGrant       = "sandbox.grant"
	KeyRule        = "sandbox.rule"   // what refused the request
	KeyDetail      = "sandbox.detail" // why, in words
	KeyClient      = "sandbox.client" // the client, where no token names it (token endpoint)
	KeyPSU         = "sandbox.psu"    // the PSU, where no token names it (logins)
)

// KeyConsent is the consent a request names where no token does (Berlin
// Group's Consent-ID), for the audit trail.
const KeyConsent = "sandbox.consent"

type ctxKey int

const ctxInteraction ctxKey = iota

// InteractionID is the request's x-fapi-interaction-id.
func InteractionID(c echo.Context) string {
	id, _ := c.Get(keyInteraction).(string)
	return id
}

// InteractionIDFrom reads the interaction id from a context (for slog).
func InteractionIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(ctxInteraction).(string)
	return id
}

// PrincipalOf is who authenticated the request (nil before authentication).
func PrincipalOf(c echo.Context) *oauth.Principal {
	p, _ := c.Get(keyPrincipal).(*oauth.Principal)
	return p
}

// GrantOf is the access grant of a data request.
func GrantOf(c echo.Context) *bank.Grant {
	g, _ := c.Get(keyGrant).(*bank.Grant)
	return g
}

// interaction echoes a valid x-fapi-interaction-id (an RFC 4122 UUID) or
// makes a new one, on every response including errors (FAPI 6.2.1-11).
func interaction(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("x-fapi-interaction-id")
		if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
			id = uuid.NewString()
		}
		c.Set(keyInteraction, id)
		c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), ctxInteraction, id)))
		c.Response().Header().Set("x-fapi-interaction-id", id)
		return next(c)
	}
}

// commonHeaders sets the headers every response carries: Date (FAPI
// 6.2.1-10), the profile in dev, and strict security headers.
func commonHeaders(profile string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			if profile == oauth.ProfileDev {
				h.Set("x-sandbox-profile", "dev")
			}
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			if !isPage(c.Request().URL.Path) {
				h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
				h.Set("X-Frame-Options", "DENY")
			}
			return next(c)
		}
	}
}

// AcceptJSON refuses (406) a request whose Accept header admits no JSON.
func AcceptJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if a := c.Request().Header.Get("Accept"); a != "" && !acceptsJSON(a) {
			return echo.NewHTTPError(http.StatusNotAcceptable)
		}
		return next(c)
	}
}

// refused reports whether a media range's parameters refuse it (q=0,
// RFC 9110 §12.4.2).
func Refused(params map[string]string) bool {
	q, ok := params["q"]
	return ok && (q == "0" || q == "0.0" || q == "0.00" || q == "0.000")
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if Refused(params) {
			continue
		}
		switch mt {
		case "*/*", "application/*", "application/json":
			return true
		}
	}
	return false
}

// Need says which access token an endpoint takes (SUMMARY §2).
type Need struct {
	Scope   string
	OrScope []string // other scopes any one of which also serves
	PSU     bool     // an authorization-code token bound to a consent; else client credentials
	Consent string   // the consent kind a psu token must be bound to
	Class   gateway.Class
	// Version is the API version a PSU token's consent must be usable
	// through (bank.Consent.UsableThrough); "" for any.
	Version string
}

// bearer extracts the token of an "Authorization: Bearer" header (RFC 6750
// §2.1). Tokens in the query string or the body are never read.
func Bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// RequireToken authenticates the request's access token and checks it is the
// kind the endpoint takes: wrong kind, scope or consent type -> 403.
func (s *Server) RequireToken(n Need) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			sp, end := span(c, "authorize access token", "authorization", attribute.String("sandbox.scope", n.Scope))
			p, err := s.AuthenticateResource(c)
			if err == nil {
				err = checkTokenKind(p, n)
			}
			if p != nil && sp.IsRecording() {
				sp.SetAttributes(attribute.String("sandbox.client_id", p.Token.ClientID))
				if p.Consent != nil {
					sp.SetAttributes(attribute.String("sandbox.consent_id", p.Consent.ID))
				}
			}
			end(err)
			if err != nil {
				return err
			}
			if err := s.LimitClient(c, n.Class, p.Token.ClientID); err != nil {
				return err
			}
			if n.Class == gateway.ClassData {
				if err := s.limitUnattended(c, p.Consent.ID); err != nil {
					return err
				}
			}
			c.Set(keyPrincipal, p)
			if n.PSU {
				c.Set(keyGrant, p.Grant())
			}
			if n.Class == gateway.ClassData {
				if err := s.dataScenario(c, p.Consent); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

func checkTokenKind(p *oauth.Principal, n Need) error {
	if !p.HasScope(n.Scope) && !slices.ContainsFunc(n.OrScope, p.HasScope) {
		return bank.Errorf(bank.KindForbidden, "", "the access token does not carry the %q scope", strings.Join(append([]string{n.Scope}, n.OrScope...), `" or "`))
	}
	if !n.PSU {
		if p.Token.GrantType != oauth.GrantClientCredentials {
			return bank.Errorf(bank.KindForbidden, "", "this endpoint takes a client-credentials access token")
		}
		return nil
	}
	if p.Consent == nil || p.Token.PSU == "" {
		return bank.Errorf(bank.KindForbidden, "", "this endpoint takes an access token the PSU authorised (authorization code grant)")
	}
	if p.Consent.Kind != n.Consent {
		return bank.Errorf(bank.KindForbidden, "", "the access token is bound to a %s consent, not a %s consent", p.Consent.Kind, n.Consent)
	}
	if n.Version != "" {
		return p.Consent.UsableThrough(n.Version)
	}
	return nil
}
