package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// vrpFlags are the flags of `sandbox tpp vrp` beyond the payment's.
type vrpFlags struct {
	count             *int
	max, limits, kind *string
	every             *string
}

func vrpFlagsOf(fs *flag.FlagSet) *vrpFlags {
	return &vrpFlags{
		count:  fs.Int("count", 5, "how many payments to try under the mandate"),
		max:    fs.String("max", "100.00", "MaximumIndividualAmount in GBP"),
		limits: fs.String("limits", "Month:Calendar:150.00", "PeriodicLimits, comma-separated PeriodType:PeriodAlignment:Amount (Day, Week, Fortnight, Month, Half-year, Year; Consent or Calendar)"),
		kind:   fs.String("type", "commercial", "commercial (UK.OBIE.VRPType.Other, any payee) or sweeping (UK.OBIE.VRPType.Sweeping: --to-* must be another account of the PSU)"),
		every:  fs.String("every", "", "advance the sandbox clock by this much before each payment after the first (\"1d\", \"36h\"; needs the admin token)"),
	}
}

// parseVRPLimits reads --limits.
func parseVRPLimits(v string) ([]tpp.VRPLimit, error) {
	var out []tpp.VRPLimit
	for _, item := range strings.Split(v, ",") {
		p := strings.Split(strings.TrimSpace(item), ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("--limits %q: each limit is PeriodType:PeriodAlignment:Amount, e.g. Month:Calendar:150.00", item)
		}
		out = append(out, tpp.VRPLimit{PeriodType: p[0], PeriodAlignment: p[1], Amount: p[2], Currency: "GBP"})
	}
	return out, nil
}

// vrpOutcome is one payment tried, as `sandbox tpp vrp` prints it.
type vrpOutcome struct {
	N       int      `json:"n"`
	Amount  string   `json:"amount"`
	ID      string   `json:"id,omitempty"`
	Status  string   `json:"status,omitempty"`
	At      string   `json:"at,omitempty"`
	Refused string   `json:"refused,omitempty"` // the error code
	Path    string   `json:"path,omitempty"`
	Message string   `json:"message,omitempty"`
	Limits  []string `json:"limits,omitempty"` // each periodic limit after it
}

// tppVRP is the VRP journey: a mandate (consent) with control parameters,
// the PSU's approval, then --count payments, each shown with the limits'
// arithmetic — the bank's own (package bank) over the payments made, and
// the bank's words when it refuses one.
func tppVRP(ctx context.Context, c *tpp.Client, f *vrpFlags, to tpp.Payee, amount, ref, admin string, quiet bool,
	approve func(consent string) (*tpp.Tokens, error), enc *json.Encoder, errOut io.Writer) error {
	limits, err := parseVRPLimits(*f.limits)
	if err != nil {
		return err
	}
	typ := map[string]string{"commercial": tpp.VRPCommercial, "sweeping": tpp.VRPSweeping}[*f.kind]
	if typ == "" {
		return fmt.Errorf("--type %q: commercial or sweeping", *f.kind)
	}
	if *f.count < 1 || *f.count > 1000 {
		return fmt.Errorf("--count %d: from 1 to 1000", *f.count)
	}
	if *f.every != "" && admin == "" {
		return errors.New("--every moves the sandbox clock: give the admin token (--admin-token or SANDBOX_ADMIN_TOKEN)")
	}
	m := tpp.VRPMandate{Type: typ, MaxAmount: *f.max, Limits: limits, To: &to, Reference: ref}
	ctl, err := controlsOf(m)
	if err != nil {
		return err
	}
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		return err
	}
	cn, err := c.CreateVRPConsent(ctx, cc, m)
	if err != nil {
		return err
	}
	toks, err := approve(cn.Data.ConsentID)
	if err != nil {
		return err
	}
	created, _ := time.Parse(time.RFC3339, cn.Data.CreationDateTime)
	var made []bank.Payment
	var out []vrpOutcome
	for n := 1; n <= *f.count; n++ {
		if n > 1 && *f.every != "" {
			if err := c.Call(ctx, http.MethodPost, "/sandbox/clock", "application/json", admin, map[string]string{"advance": *f.every}, http.StatusOK, nil); err != nil {
				return fmt.Errorf("advancing the clock: %w", err)
			}
		}
		o := vrpOutcome{N: n, Amount: amount}
		vrp := tpp.VRP{Consent: cn, Type: typ, Amount: amount, To: to, Reference: ref}
		p, err := c.PayVRP(ctx, toks.AccessToken, vrp)
		var se *tpp.StatusError
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized && toks.RefreshToken != "" {
			// The access token ran out (the clock moved on): the mandate is
			// long-lived, its refresh token gets another.
			fresh, rerr := c.Refresh(ctx, toks.RefreshToken)
			if rerr != nil {
				return fmt.Errorf("refreshing the token: %w", rerr)
			}
			toks.AccessToken = fresh.AccessToken
			if fresh.RefreshToken != "" {
				toks.RefreshToken = fresh.RefreshToken
			}
			p, err = c.PayVRP(ctx, toks.AccessToken, vrp)
		}
		switch {
		case err == nil:
			o.ID, o.Status, o.At = p.Data.DomesticVRPID, p.Data.Status, p.Data.CreationDateTime
			at, _ := time.Parse(time.RFC3339, o.At)
			v, _ := bank.ParseMinor(amount)
			made = append(made, bank.Payment{CreatedAt: at, Amount: v, Status: statusWord(p.Data.Status)})
			for _, u := range ctl.Uses(created, made, at) {
				o.Limits = append(o.Limits, u.String())
			}
		case errors.As(err, &se) && se.Status == http.StatusBadRequest:
			var e struct {
				Errors []struct{ ErrorCode, Path, Message string }
			}
			if json.Unmarshal(se.Body, &e) != nil || len(e.Errors) == 0 {
				return err
			}
			o.Refused, o.Path, o.Message = e.Errors[0].ErrorCode, e.Errors[0].Path, e.Errors[0].Message
		default:
			return err
		}
		if !quiet {
			if o.Refused != "" {
				fmt.Fprintf(errOut, "payment %d of %s: refused %s at %s — %s\n", n, amount, o.Refused, o.Path, o.Message)
			} else {
				fmt.Fprintf(errOut, "payment %d of %s: %s %s; %s\n", n, amount, o.ID, o.Status, strings.Join(o.Limits, "; "))
			}
		}
		out = append(out, o)
	}
	return enc.Encode(map[string]any{"consent_id": cn.Data.ConsentID, "refresh_token_issued": toks.RefreshToken != "", "payments": out})
}

// controlsOf is the bank's reading of the mandate's limits, for the
// arithmetic the TPP shows.
func controlsOf(m tpp.VRPMandate) (*bank.VRPControls, error) {
	ctl := &bank.VRPControls{Currency: "GBP"}
	for _, l := range m.Limits {
		v, err := bank.ParseMinor(l.Amount)
		if err != nil {
			return nil, fmt.Errorf("--limits: amount %q: %v", l.Amount, err)
		}
		ctl.Periodic = append(ctl.Periodic, bank.PeriodicLimit{Type: l.PeriodType, Alignment: l.PeriodAlignment, Amount: v, Currency: "GBP"})
	}
	return ctl, nil
}

// statusWord turns a VRP's status in either version into the bank's word
// for whether it counts (a rejected one does not).
func statusWord(s string) string {
	if s == bank.PaymentRejected || s == "RJCT" {
		return bank.PaymentRejected
	}
	return bank.PaymentPending
}
