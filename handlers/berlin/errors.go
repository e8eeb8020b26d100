package berlin

import (
	"net/http"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Errors are NextGenPSD2's: {"tppMessages":[{"category":"ERROR","code",
// "path","text"}]} with the Implementation Guidelines' codes and statuses
// (the official file types the code as a free string; the names are the
// IG's, as adorsys xs2a implements them). 415, 500 and 503 carry no body,
// as the official file has none for them.

type tppMessage struct {
	Category string `json:"category"`
	Code     string `json:"code"`
	Path     string `json:"path,omitempty"`
	Text     string `json:"text,omitempty"`
}

type tppMessages struct {
	TPPMessages []tppMessage `json:"tppMessages"`
}

// codeOf is the status and code of a refusal in the bank's words.
func codeOf(be *bank.Error) (int, string) {
	switch be.Kind {
	case bank.KindFieldInvalid, bank.KindFieldMissing, bank.KindFieldInvalidDate, bank.KindFieldUnexpected, bank.KindFieldExpected,
		bank.KindMalformed, bank.KindHeaderMissing, bank.KindHeaderInvalid, bank.KindUnsupportedCurrency, bank.KindUnsupportedScheme,
		bank.KindUnsupportedLocalInstrument, bank.KindUnsupportedAccountIdentifier, bank.KindUnsupportedFrequency:
		if be.Path == "payment-product" {
			return http.StatusNotFound, "PRODUCT_UNKNOWN"
		}
		return http.StatusBadRequest, "FORMAT_ERROR"
	case bank.KindParameterNotSupported:
		return http.StatusBadRequest, "PARAMETER_NOT_SUPPORTED"
	case bank.KindExecutionDateInvalid:
		return http.StatusBadRequest, "EXECUTION_DATE_INVALID"
	case bank.KindScaMethodUnknown:
		return http.StatusBadRequest, "SCA_METHOD_UNKNOWN"
	case bank.KindPaymentFailed, bank.KindDuplicateReference:
		return http.StatusBadRequest, "PAYMENT_FAILED"
	case bank.KindCertificateMissing:
		return http.StatusUnauthorized, "CERTIFICATE_MISSING"
	case bank.KindCertificateInvalid:
		return http.StatusUnauthorized, "CERTIFICATE_INVALID"
	case bank.KindRoleInvalid:
		return http.StatusUnauthorized, "ROLE_INVALID"
	case bank.KindCredentialsInvalid:
		return http.StatusUnauthorized, "PSU_CREDENTIALS_INVALID"
	case bank.KindConsentInvalid, bank.KindConsentStatus, bank.KindUnauthenticated, bank.KindReauthenticate:
		return http.StatusUnauthorized, "CONSENT_INVALID"
	case bank.KindConsentExpired:
		return http.StatusUnauthorized, "CONSENT_EXPIRED"
	case bank.KindSignatureMissing:
		return http.StatusUnauthorized, "SIGNATURE_MISSING"
	case bank.KindSignatureMalformed, bank.KindSignatureInvalid, bank.KindSignatureInvalidClaim, bank.KindSignatureMissingClaim, bank.KindSignatureUnexpected:
		return http.StatusUnauthorized, "SIGNATURE_INVALID"
	case bank.KindConsentUnknown:
		return http.StatusForbidden, "CONSENT_UNKNOWN"
	case bank.KindForbidden:
		return http.StatusForbidden, "RESOURCE_UNKNOWN"
	case bank.KindNotFound:
		return http.StatusNotFound, "RESOURCE_UNKNOWN"
	case bank.KindProductUnknown:
		return http.StatusNotFound, "PRODUCT_UNKNOWN"
	case bank.KindCancellationInvalid:
		return http.StatusMethodNotAllowed, "CANCELLATION_INVALID"
	case bank.KindStatusInvalid, bank.KindConflict, bank.KindIdempotencyConflict:
		return http.StatusConflict, "STATUS_INVALID"
	case bank.KindRateLimited:
		return http.StatusTooManyRequests, "ACCESS_EXCEEDED"
	case bank.KindUnavailable:
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// envelope renders the API's errors.
type envelope struct{}

func (envelope) RenderError(c echo.Context, be *bank.Error) {
	status, code := codeOf(be)
	if code != "" {
		c.Set(httpx.KeyRule, orDefault(be.Rule, code))
	}
	write(c, status, code, be.Path, be.Message)
}

func (envelope) RenderStatus(c echo.Context, status int) {
	code := map[int]string{
		http.StatusNotFound:              "RESOURCE_UNKNOWN",
		http.StatusMethodNotAllowed:      "SERVICE_INVALID",
		http.StatusNotAcceptable:         "REQUESTED_FORMATS_INVALID",
		http.StatusRequestEntityTooLarge: "FORMAT_ERROR",
		http.StatusUnauthorized:          "CERTIFICATE_INVALID",
		http.StatusTooManyRequests:       "ACCESS_EXCEEDED",
	}[status]
	text := map[int]string{
		http.StatusNotFound:              "no such resource or service",
		http.StatusMethodNotAllowed:      "the method is not offered on this resource",
		http.StatusNotAcceptable:         "the API answers application/json",
		http.StatusRequestEntityTooLarge: "the body is over the size limit",
	}[status]
	if code == "" && status < 500 && status != http.StatusUnsupportedMediaType {
		code = "FORMAT_ERROR"
	}
	write(c, status, code, "", text)
}

// write sends the envelope (no body for the statuses the standard gives
// none), always with X-Request-ID.
func write(c echo.Context, status int, code, path, text string) {
	setRequestID(c)
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	if code == "" {
		c.NoContent(status)
		return
	}
	c.JSON(status, tppMessages{[]tppMessage{{Category: "ERROR", Code: code, Path: path, Text: clipText(text, 500)}}})
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clipText bounds a message to n characters (tppMessageText).
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
