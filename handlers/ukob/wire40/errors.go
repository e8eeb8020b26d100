package wire40

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/bank"
)

// uCode maps v3.1.11's error codes to v4.0's (OB_Internal_Codeset.csv,
// U000-U029). A refusal of permission or ownership, which has no code of
// the standard's, is AG01 (ISO 20022 "TransactionForbidden").
var uCode = map[string]string{
	"UK.OBIE.UnexpectedError": "U000", "UK.OBIE.Field.Expected": "U001", "UK.OBIE.Field.Invalid": "U002",
	"UK.OBIE.Field.InvalidDate": "U003", "UK.OBIE.Field.Missing": "U004", "UK.OBIE.Field.Unexpected": "U005",
	"UK.OBIE.Header.Invalid": "U006", "UK.OBIE.Header.Missing": "U007", "UK.OBIE.Resource.ConsentMismatch": "U008",
	"UK.OBIE.Resource.InvalidConsentStatus": "U009", "UK.OBIE.Resource.InvalidFormat": "U010",
	"UK.OBIE.Resource.NotFound": "U011", "UK.OBIE.Rules.AfterCutOffDateTime": "U012",
	"UK.OBIE.Rules.DuplicateReference": "U013", "UK.OBIE.Rules.FailsControlParameters": "U014",
	"UK.OBIE.Signature.Invalid": "U015", "UK.OBIE.Signature.InvalidClaim": "U016", "UK.OBIE.Signature.MissingClaim": "U017",
	"UK.OBIE.Signature.Malformed": "U018", "UK.OBIE.Signature.Missing": "U019", "UK.OBIE.Signature.Unexpected": "U020",
	"UK.OBIE.Unsupported.AccountIdentifier": "U021", "UK.OBIE.Unsupported.AccountSecondaryIdentifier": "U022",
	"UK.OBIE.Unsupported.Currency": "U023", "UK.OBIE.Unsupported.EventType": "U024", "UK.OBIE.Unsupported.Frequency": "U025",
	"UK.OBIE.Unsupported.LocalInstrument": "U026", "UK.OBIE.Unsupported.Scheme": "U027", "UK.OBIE.Reauthenticate": "U028",
	"UK.OBIE.Rules.ResourceAlreadyExists": "U029", "UK.SBOX.Forbidden": "AG01",
}

// Code is the status and code of a refusal kind at a path: v3.1.11's,
// reworded, except that an idempotency key reused with another body is 409
// U029 (ResourceAlreadyExists) on the payment POSTs that list 409 — every
// one but POST /domestic-payment-consents, which keeps 400 U006.
func Code(path string, k bank.Kind) obwire.ErrorCode {
	if k == bank.KindIdempotencyConflict && !strings.HasSuffix(path, "/domestic-payment-consents") {
		return obwire.ErrorCode{Status: 409, Code: "U029"}
	}
	e := wire31.Code(k)
	e.Code = uCode[e.Code]
	return e
}

type errorItem struct {
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message,omitempty"`
	Path      string `json:"Path,omitempty"`
}

type errorResponse struct {
	ID     string      `json:"Id,omitempty"`
	Errors []errorItem `json:"Errors"`
}

// Errors renders OBErrorResponse1 as v4.0 has it: Errors (the only
// required member) with a U0xx ErrorCode, the message naming the v3.1.11
// code it stands for as the standard's examples do; no deprecated Code or
// Message.
var Errors = obwire.Errors{
	Codes: func(c echo.Context, k bank.Kind) obwire.ErrorCode { return Code(c.Request().URL.Path, k) },
	Body: func(c echo.Context, e obwire.ErrorCode, be *bank.Error) any {
		msg := be.Message
		if name := wire31.Code(be.Kind).Code; strings.HasPrefix(name, "UK.OBIE.") && e.Code != "U029" {
			msg = name + " - " + msg
		}
		return errorResponse{ID: httpx.InteractionID(c),
			Errors: []errorItem{{ErrorCode: e.Code, Message: httpx.Truncate(msg, 500), Path: httpx.Truncate(be.Path, 500)}}}
	},
}
