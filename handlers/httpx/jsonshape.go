package httpx

import (
	"errors"
	"net/http"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/jsonshape"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// checkBody runs the strict JSON pass (jsonshape) on a resource API body
// before anything decodes it: a duplicate key, data after the value or
// nesting too deep is UK.OBIE.Resource.InvalidFormat, an array too long
// UK.OBIE.Field.Invalid. Plain syntax errors are left to the contract's
// decoder, which reports them (or the wrong media type) in its own terms.
func checkBody(body []byte) error {
	err := jsonshape.Check(body, jsonshape.Default)
	switch {
	case err == nil, errors.Is(err, jsonshape.ErrSyntax):
		return nil
	case errors.Is(err, jsonshape.ErrArrayTooLong):
		return bank.Errorf(bank.KindFieldInvalid, "", "the body is refused: %v", err)
	}
	return bank.Errorf(bank.KindMalformed, "", "the body is refused: %v", err)
}

// CheckOAuthBody is checkBody for the endpoints that answer RFC 6749 errors
// (sandbox controls, client registration), with the code they use.
func CheckOAuthBody(body []byte, code string) error {
	if err := jsonshape.Check(body, jsonshape.Limits{}); err != nil && !errors.Is(err, jsonshape.ErrSyntax) {
		return &oauth.Error{Status: http.StatusBadRequest, Code: code, Description: "the body is refused: " + err.Error()}
	}
	return nil
}
