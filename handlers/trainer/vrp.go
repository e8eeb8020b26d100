package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// vrpPayee is whom the trainer's VRP mandate pays: a gym's monthly fees.
var vrpPayee = tpp.Payee{Name: "Greenfield Lettings", SortCode: "200415", Number: "33104477"}

// vrpSteps are a VRP journey after registration and the client-credentials
// token: a mandate with limits, the PSU's approval once, then payments
// without the PSU until a limit says no, and the refresh token that keeps
// a long-lived mandate going.
func vrpSteps(authorize, approve, exchangeCode step) []step {
	pay := func(title, explain string, refused bool) step {
		return step{title, explain, func(ctx context.Context, j *journey) (string, error) {
			p, err := j.c.PayVRP(ctx, j.token, tpp.VRP{Consent: j.vrp, Type: tpp.VRPCommercial, Amount: "50.00", To: vrpPayee, Reference: "TRAINER VRP"})
			var se *tpp.StatusError
			switch {
			case refused && errors.As(err, &se):
				var e struct {
					Errors []struct{ ErrorCode, Path, Message string }
				}
				if json.Unmarshal(se.Body, &e) != nil || len(e.Errors) == 0 {
					return "", err
				}
				return fmt.Sprintf("refused, as it should be: %d %s at %s — %s", se.Status, e.Errors[0].ErrorCode, e.Errors[0].Path, e.Errors[0].Message), nil
			case refused && err == nil:
				return "", fmt.Errorf("the bank paid %s over the limit", p.Data.DomesticVRPID)
			case err != nil:
				return "", err
			}
			j.setPayment(p.Data.DomesticVRPID)
			return p.Data.DomesticVRPID + " " + p.Data.Status, nil
		}}
	}
	return []step{
		{"Create a VRP consent (a mandate)", "The app asks for a variable recurring payments mandate: to Greenfield Lettings, at most 50.00 GBP a payment and 120.00 a week counted from today (PeriodicLimits: Week, Consent). The PSU authorises it once; every payment after that must fit these control parameters.",
			func(ctx context.Context, j *journey) (string, error) {
				var err error
				j.vrp, err = j.c.CreateVRPConsent(ctx, j.cc, tpp.VRPMandate{Type: tpp.VRPCommercial, MaxAmount: "50.00", To: &vrpPayee,
					Reference: "TRAINER VRP", Limits: []tpp.VRPLimit{{PeriodType: "Week", PeriodAlignment: "Consent", Amount: "120.00"}}})
				if err != nil {
					return "", err
				}
				j.consent = j.vrp.Data.ConsentID
				return j.consent + " " + j.vrp.Data.Status, nil
			}},
		authorize, approve, exchangeCode,
		pay("Pay 50.00 without the PSU", "The app pays under the mandate: Initiation and Risk as in the consent, the payment itself in Instruction. The bank counts it against every limit — 50.00 of this week's 120.00 — in the same transaction as the debit.", false),
		pay("Pay 50.00 again", "100.00 of 120.00 used this week: still within the limit.", false),
		pay("Pay until the limit says no", "Another 50.00 would make 150.00 this week. The bank refuses with 400 UK.OBIE.Rules.FailsControlParameters (v4.0: U014), the limit at fault in Path and its arithmetic in the message; nothing moves. Next week — move the sandbox clock — it pays again.", true),
		{"Keep the mandate going: refresh the token", "A VRP consent is long-lived, so its tokens came with a refresh token: when the access token runs out, the app gets another without the PSU.",
			func(ctx context.Context, j *journey) (string, error) {
				if j.refresh == "" {
					return "", errors.New("the bank issued no refresh token for the VRP consent")
				}
				t, err := j.c.Refresh(ctx, j.refresh)
				if err != nil {
					return "", err
				}
				j.token = t.AccessToken
				if t.RefreshToken != "" {
					j.refresh = t.RefreshToken
				}
				return "a fresh access token for consent " + j.consent, nil
			}},
	}
}
