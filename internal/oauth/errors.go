package oauth

import (
	"fmt"
	"time"
)

// Error is an OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2): the code travels
// to the client as is, in {"error","error_description"}.
type Error struct {
	Status      int
	Code        string
	Description string
	// Challenge, when set, goes out as WWW-Authenticate (401 at the token
	// endpoint with HTTP Basic, RFC 6749 §5.2).
	Challenge string
	// Rule names the rule that refused, for the audit trail only.
	Rule string
	// RetryAfter, when set, goes out as Retry-After (429).
	RetryAfter time.Duration
	// DPoPNonce, when set, goes out as DPoP-Nonce (use_dpop_nonce, RFC
	// 9449 §8).
	DPoPNonce string
}

// WithRule returns the error with its audit rule set.
func (e *Error) WithRule(rule string) *Error {
	e.Rule = rule
	return e
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func oerr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

// The RFC 6749 / 7591 errors the server uses.
func errInvalidRequest(format string, args ...any) *Error {
	return oerr(400, "invalid_request", format, args...)
}
func errInvalidClient(format string, args ...any) *Error {
	return oerr(401, "invalid_client", format, args...)
}
func errInvalidGrant(format string, args ...any) *Error {
	return oerr(400, "invalid_grant", format, args...)
}
func errUnauthorizedClient(format string, args ...any) *Error {
	return oerr(400, "unauthorized_client", format, args...)
}
func errInvalidScope(format string, args ...any) *Error {
	return oerr(400, "invalid_scope", format, args...)
}
func errMetadata(format string, args ...any) *Error {
	return oerr(400, "invalid_client_metadata", format, args...)
}
func errRedirectURI(format string, args ...any) *Error {
	return oerr(400, "invalid_redirect_uri", format, args...)
}
func errSoftwareStatement(format string, args ...any) *Error {
	return oerr(400, "invalid_software_statement", format, args...)
}
