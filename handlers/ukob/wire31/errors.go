package wire31

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
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
	bank.KindFailsControlParameters:       {400, "UK.OBIE.Rules.FailsControlParameters"},
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

// Code is the status and UK.OBIE code of a refusal kind.
func Code(k bank.Kind) obwire.ErrorCode {
	m, ok := obCode[k]
	if !ok {
		m = obCode[bank.KindInternal]
	}
	return obwire.ErrorCode{Status: m.status, Code: m.code}
}

// CodeAt is Code at a path: the VRP file answers an idempotency key reused
// with another body with 409 UK.OBIE.Rules.ResourceAlreadyExists, where the
// other v3.1.11 files have no 409.
func CodeAt(path string, k bank.Kind) obwire.ErrorCode {
	if k == bank.KindIdempotencyConflict && strings.Contains(path, "/pisp/domestic-vrp") {
		return obwire.ErrorCode{Status: http.StatusConflict, Code: "UK.OBIE.Rules.ResourceAlreadyExists"}
	}
	return Code(k)
}

// Errors renders OBErrorResponse1 as v3.1.11 has it: Code, Id, Message and
// Errors, each with a UK.OBIE.* ErrorCode and a Message.
var Errors = obwire.Errors{
	Codes: func(c echo.Context, k bank.Kind) obwire.ErrorCode { return CodeAt(c.Request().URL.Path, k) },
	Body: func(c echo.Context, e obwire.ErrorCode, be *bank.Error) any {
		item := obErrorItem{ErrorCode: e.Code, Message: httpx.Truncate(be.Message, 500), Path: httpx.Truncate(be.Path, 500)}
		if item.Message == "" {
			item.Message = http.StatusText(e.Status)
		}
		return obErrorResponse{
			Code:    fmt.Sprintf("%d %s", e.Status, strings.ReplaceAll(http.StatusText(e.Status), " ", "")),
			ID:      httpx.InteractionID(c),
			Message: item.Message,
			Errors:  []obErrorItem{item},
		}
	},
}
