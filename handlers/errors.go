package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// obCode maps a bank error kind to its HTTP status and UK.OBIE error code.
var obCode = map[bank.Kind]struct {
	status int
	code   string
}{
	bank.KindFieldInvalid:                 {400, "UK.OBIE.Field.Invalid"},
	bank.KindFieldMissing:                 {400, "UK.OBIE.Field.Missing"},
	bank.KindFieldInvalidDate:             {400, "UK.OBIE.Field.InvalidDate"},
	bank.KindFieldUnexpected:              {400, "UK.OBIE.Field.Unexpected"},
	bank.KindFieldExpected:                {400, "UK.OBIE.Field.Expected"},
	bank.KindMalformed:                    {400, "UK.OBIE.Resource.InvalidFormat"},
	bank.KindHeaderMissing:                {400, "UK.OBIE.Header.Missing"},
	bank.KindHeaderInvalid:                {400, "UK.OBIE.Header.Invalid"},
	bank.KindNotFound:                     {400, "UK.OBIE.Resource.NotFound"},
	bank.KindConsentStatus:                {400, "UK.OBIE.Resource.InvalidConsentStatus"},
	bank.KindConsentMismatch:              {400, "UK.OBIE.Resource.ConsentMismatch"},
	bank.KindConflict:                     {400, "UK.OBIE.Header.Invalid"},
	bank.KindIdempotencyConflict:          {400, "UK.OBIE.Header.Invalid"},
	bank.KindUnsupportedCurrency:          {400, "UK.OBIE.Unsupported.Currency"},
	bank.KindUnsupportedScheme:            {400, "UK.OBIE.Unsupported.Scheme"},
	bank.KindUnsupportedLocalInstrument:   {400, "UK.OBIE.Unsupported.LocalInstrument"},
	bank.KindUnsupportedAccountIdentifier: {400, "UK.OBIE.Unsupported.AccountIdentifier"},
	bank.KindUnsupportedFrequency:         {400, "UK.OBIE.Unsupported.Frequency"},
	bank.KindUnsupportedEventType:         {400, "UK.OBIE.Unsupported.EventType"},
	bank.KindAfterCutOff:                  {400, "UK.OBIE.Rules.AfterCutOffDateTime"},
	bank.KindDuplicateReference:           {400, "UK.OBIE.Rules.DuplicateReference"},
	bank.KindSignatureMissing:             {400, "UK.OBIE.Signature.Missing"},
	bank.KindSignatureMalformed:           {400, "UK.OBIE.Signature.Malformed"},
	bank.KindSignatureInvalid:             {400, "UK.OBIE.Signature.Invalid"},
	bank.KindSignatureInvalidClaim:        {400, "UK.OBIE.Signature.InvalidClaim"},
	bank.KindSignatureMissingClaim:        {400, "UK.OBIE.Signature.MissingClaim"},
	bank.KindSignatureUnexpected:          {400, "UK.OBIE.Signature.Unexpected"},
	bank.KindReauthenticate:               {403, "UK.OBIE.Reauthenticate"},
	// The standard has no code for a refusal of permission or ownership; the
	// sandbox names it in its own namespace and says why in Message.
	bank.KindForbidden:   {403, "UK.SBOX.Forbidden"},
	bank.KindInternal:    {500, "UK.OBIE.UnexpectedError"},
	bank.KindUnavailable: {503, "UK.OBIE.UnexpectedError"},
}

// oauthCode maps a bank error kind to an RFC 6749 error and status for the
// OAuth and sandbox endpoints, when the error does not name one itself.
var oauthCode = map[bank.Kind]struct {
	status int
	code   string
}{
	bank.KindUnauthenticated: {401, "invalid_client"},
	bank.KindForbidden:       {403, "access_denied"},
	bank.KindNotFound:        {404, "not_found"},
	bank.KindRateLimited:     {429, "slow_down"},
	bank.KindConflict:        {409, "conflict"},
	bank.KindInternal:        {500, "server_error"},
	bank.KindUnavailable:     {503, "temporarily_unavailable"},
}

type obErrorItem struct {
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
	Path      string `json:"Path,omitempty"`
}

type obErrorResponse struct {
	Code    string        `json:"Code"`
	ID      string        `json:"Id,omitempty"`
	Message string        `json:"Message"`
	Errors  []obErrorItem `json:"Errors"`
}

// family says which error envelope a path's answers use.
type family int

const (
	familyOB family = iota
	familyOAuth
	familyPage // HTML pages
)

func familyOf(path string) family {
	switch {
	case strings.HasPrefix(path, "/open-banking/"):
		return familyOB
	case strings.HasPrefix(path, "/psu/"), path == "/", path == "/trainer":
		return familyPage
	}
	return familyOAuth
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// errorHandler is the one renderer of every error the server returns.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		req := c.Request()
		fam := familyOf(req.URL.Path)
		var (
			be *bank.Error
			oe *oauth.Error
			he *echo.HTTPError
		)
		switch {
		case errors.As(err, &oe):
		case errors.As(err, &be):
		case errors.Is(err, bank.ErrNotFound), errors.Is(err, bank.ErrConflict):
			be = &bank.Error{Kind: bank.KindOf(err), Message: err.Error()}
		case errors.As(err, &he):
			// Routing and framework errors: 404, 405, 413 and the like.
			status := he.Code
			if status >= 500 {
				break
			}
			if status == http.StatusRequestEntityTooLarge && fam == familyOB {
				c.NoContent(status)
				return
			}
			msg := fmt.Sprint(he.Message)
			if fam == familyOB {
				// The standard gives 401/404/405/406/415/429 no body.
				c.NoContent(status)
				return
			}
			writeOAuth(c, &oauth.Error{Status: status, Code: httpErrorCode(status), Description: msg})
			return
		}
		defer func() {
			// What decided, for the audit trail.
			switch {
			case oe != nil:
				c.Set(keyRule, cmp.Or(oe.Rule, oe.Code))
				c.Set(keyDetail, oe.Description)
			case be != nil:
				c.Set(keyRule, cmp.Or(be.Rule, kindName(be.Kind)))
				c.Set(keyDetail, be.Message)
			}
		}()
		if be == nil && oe == nil {
			// Not the client's fault: log in full, show a generic message with an id.
			id := uuid.NewString()
			log.ErrorContext(req.Context(), "internal error", "error_id", id, "method", req.Method, "path", req.URL.Path, "error", err)
			be = &bank.Error{Kind: bank.KindInternal, Message: "unexpected error, id " + id}
		}
		if oe != nil {
			if fam == familyOB {
				be = &bank.Error{Kind: bank.KindForbidden, Message: oe.Description}
			} else {
				writeOAuth(c, oe)
				return
			}
		}
		if be.Kind == bank.KindUnauthenticated {
			if c.Response().Header().Get("WWW-Authenticate") == "" { // a DPoP challenge is set already
				c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			if fam == familyOB {
				c.NoContent(http.StatusUnauthorized)
				return
			}
		}
		if be.Kind == bank.KindRateLimited && fam == familyOB {
			c.NoContent(http.StatusTooManyRequests)
			return
		}
		if fam != familyOB {
			m, ok := oauthCode[be.Kind]
			if !ok {
				m = struct {
					status int
					code   string
				}{400, "invalid_request"}
			}
			writeOAuth(c, &oauth.Error{Status: m.status, Code: m.code, Description: be.Error()})
			return
		}
		m, ok := obCode[be.Kind]
		if !ok {
			m = obCode[bank.KindInternal]
		}
		item := obErrorItem{ErrorCode: m.code, Message: truncate(be.Message, 500), Path: truncate(be.Path, 500)}
		if item.Message == "" {
			item.Message = http.StatusText(m.status)
		}
		resp := obErrorResponse{
			Code:    fmt.Sprintf("%d %s", m.status, strings.ReplaceAll(http.StatusText(m.status), " ", "")),
			ID:      InteractionID(c),
			Message: item.Message,
			Errors:  []obErrorItem{item},
		}
		c.JSON(m.status, resp)
	}
}

func httpErrorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnauthorized:
		return "invalid_token"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "invalid_request"
}

func writeOAuth(c echo.Context, e *oauth.Error) {
	h := c.Response().Header()
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	if e.DPoPNonce != "" {
		h.Set("DPoP-Nonce", e.DPoPNonce)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	c.JSON(status, body)
}

// kindName names a refusal kind in the audit trail: its UK.OBIE code where
// it has one.
func kindName(k bank.Kind) string {
	switch k {
	case bank.KindUnauthenticated:
		return "token.invalid"
	case bank.KindRateLimited:
		return "rate_limit"
	}
	if m, ok := obCode[k]; ok {
		return m.code
	}
	return "refused"
}
