package v31

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
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

// Envelope renders errors as OBErrorResponse1 (v3.1.11): the standard
// gives 401, 404, 405, 406, 413, 415 and 429 no body.
type Envelope struct{}

func (Envelope) RenderStatus(c echo.Context, status int) { c.NoContent(status) }

func (Envelope) RenderError(c echo.Context, be *bank.Error) {
	switch be.Kind {
	case bank.KindUnauthenticated:
		c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		c.NoContent(http.StatusUnauthorized)
		return
	case bank.KindRateLimited:
		c.NoContent(http.StatusTooManyRequests)
		return
	}
	m, ok := obCode[be.Kind]
	if !ok {
		m = obCode[bank.KindInternal]
	}
	if be.Rule == "" {
		c.Set(httpx.KeyRule, m.code) // the audit trail names the standard's code
	}
	item := obErrorItem{ErrorCode: m.code, Message: httpx.Truncate(be.Message, 500), Path: httpx.Truncate(be.Path, 500)}
	if item.Message == "" {
		item.Message = http.StatusText(m.status)
	}
	c.JSON(m.status, obErrorResponse{
		Code:    fmt.Sprintf("%d %s", m.status, strings.ReplaceAll(http.StatusText(m.status), " ", "")),
		ID:      httpx.InteractionID(c),
		Message: item.Message,
		Errors:  []obErrorItem{item},
	})
}
