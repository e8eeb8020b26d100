package bank

import (
	"errors"
	"fmt"
)

// Kind classifies a refusal. The kinds follow the standard's error vocabulary
// closely (each maps to one UK.OBIE.* code in the v3.1 renderer), but they are
// the bank's words: another wire profile maps them to its own codes.
type Kind int

// The kinds of error the bank reports.
const (
	KindInternal         Kind = iota // a fault of the sandbox; never caused by input
	KindFieldInvalid                 // a value breaks a rule or a pattern
	KindFieldMissing                 // a required field is absent
	KindFieldInvalidDate             // a date that cannot be parsed or is out of range
	KindFieldUnexpected              // a field (or query parameter) that is not allowed
	KindFieldExpected                // a field required in combination with another
	KindMalformed                    // the body is not parseable
	KindHeaderMissing                // a required header is absent
	KindHeaderInvalid                // a header with a bad value
	KindNotFound                     // an unknown resource id (400 in the standard)
	KindConsentStatus                // the consent is in the wrong state
	KindConsentMismatch              // a payment differs from its consent
	KindUnauthenticated              // no valid credentials (401, no body)
	KindForbidden                    // authenticated but not allowed (403)
	KindReauthenticate               // the PSU must authenticate again (403)
	KindRateLimited                  // over a limit (429)
	KindUnsupportedCurrency
	KindUnsupportedScheme
	KindUnsupportedLocalInstrument
	KindUnsupportedAccountIdentifier
	KindUnsupportedFrequency
	KindAfterCutOff
	KindDuplicateReference
	KindSignatureMissing
	KindSignatureMalformed
	KindSignatureInvalid
	KindSignatureInvalidClaim
	KindSignatureMissingClaim
	KindSignatureUnexpected
	KindConflict    // a unique key is taken (idempotency, registration)
	KindUnavailable // the bank is (made) unavailable: 503
	KindUnsupportedEventType
	KindIdempotencyConflict    // an idempotency key reused with another body
	KindFailsControlParameters // a payment outside a VRP consent's control parameters
)

var kindNames = map[Kind]string{
	KindInternal: "internal", KindFieldInvalid: "field.invalid", KindFieldMissing: "field.missing",
	KindFieldInvalidDate: "field.invalid_date", KindFieldUnexpected: "field.unexpected", KindFieldExpected: "field.expected",
	KindMalformed: "body.malformed", KindHeaderMissing: "header.missing", KindHeaderInvalid: "header.invalid",
	KindNotFound: "not_found", KindConsentStatus: "consent.status", KindConsentMismatch: "consent.mismatch",
	KindUnauthenticated: "token.invalid", KindForbidden: "forbidden", KindReauthenticate: "reauthenticate",
	KindRateLimited: "rate_limit", KindUnsupportedCurrency: "unsupported.currency", KindUnsupportedScheme: "unsupported.scheme",
	KindUnsupportedLocalInstrument: "unsupported.local_instrument", KindUnsupportedAccountIdentifier: "unsupported.account_identifier",
	KindUnsupportedFrequency: "unsupported.frequency", KindAfterCutOff: "rules.after_cut_off", KindDuplicateReference: "rules.duplicate_reference",
	KindSignatureMissing: "signature.missing", KindSignatureMalformed: "signature.malformed", KindSignatureInvalid: "signature.invalid",
	KindSignatureInvalidClaim: "signature.invalid_claim", KindSignatureMissingClaim: "signature.missing_claim",
	KindSignatureUnexpected: "signature.unexpected", KindConflict: "conflict", KindUnavailable: "unavailable",
	KindUnsupportedEventType: "unsupported.event_type", KindIdempotencyConflict: "idempotency.conflict",
	KindFailsControlParameters: "rules.fails_control_parameters",
}

// String names the kind (in the audit trail, where no standard's code does).
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "refused"
}

// Error is a refusal with its kind, a message for the client and, where one
// field is at fault, its JSON path (or header / parameter name).
type Error struct {
	Kind    Kind
	Message string
	Path    string
	// Rule, when set, names the rule that refused for the audit trail and
	// the anomaly rules (e.g. "bola.foreign"); it is not sent to clients.
	Rule string
}

// WithRule returns the error with its audit rule set.
func (e *Error) WithRule(rule string) *Error {
	e.Rule = rule
	return e
}

func (e *Error) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s: %s", e.Path, e.Message)
	}
	return e.Message
}

// Errorf builds an *Error of the given kind.
func Errorf(kind Kind, path, format string, args ...any) *Error {
	return &Error{Kind: kind, Path: path, Message: fmt.Sprintf(format, args...)}
}

// KindOf reports the kind of err: the kind of the first *Error in its chain,
// KindNotFound for ErrNotFound, KindConflict for ErrConflict, else KindInternal.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrNotFound):
		return KindNotFound
	case errors.Is(err, ErrConflict):
		return KindConflict
	}
	return KindInternal
}

// Sentinel errors the store returns at its edge (never sql.ErrNoRows).
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)
