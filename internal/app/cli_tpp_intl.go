package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// intlFlags are `sandbox tpp pay --international`'s: the currencies and the
// rate asked for.
type intlFlags struct {
	on                                 bool
	currency, transfer, unit, rateType string
	rate, contract                     string
}

func intlFlagsOf(fs *flag.FlagSet) *intlFlags {
	f := &intlFlags{}
	fs.BoolVar(&f.on, "international", false, "an international payment to --to-iban (--amount in --currency, sent in --transfer-currency) at the bank's rates")
	fs.StringVar(&f.currency, "currency", "EUR", "--international: the currency of --amount (the currency of transfer, or the debtor account's)")
	fs.StringVar(&f.transfer, "transfer-currency", "", "--international: the currency the creditor receives (default --currency)")
	fs.StringVar(&f.unit, "unit-currency", "GBP", "--international: the rate's unit currency (1 unit = rate other), the debtor account's currency")
	fs.StringVar(&f.rateType, "rate-type", "Indicative", "--international: Actual, Agreed or Indicative")
	fs.StringVar(&f.rate, "rate", "", "--international --rate-type Agreed: the contract rate (1 --unit-currency = rate --transfer-currency)")
	fs.StringVar(&f.contract, "contract", "", "--international --rate-type Agreed: the contract's identification")
	return f
}

// tppPayInternational makes an international payment: the consent (its
// indicative or agreed rate and charges shown), the PSU's approval, the
// payment (the rate applied), printed as the bank answers it.
func tppPayInternational(ctx context.Context, c *tpp.Client, cc string, f *intlFlags, amount string, to tpp.Abroad, ref string,
	approve func(string) (*tpp.Tokens, error), enc *json.Encoder, quiet bool, errOut io.Writer) error {
	if f.transfer == "" {
		f.transfer = f.currency
	}
	if f.rateType == "Agreed" && (f.rate == "" || f.contract == "") {
		return fmt.Errorf("--rate-type Agreed needs --rate and --contract")
	}
	in := c.InternationalInitiation(amount, f.currency, f.transfer, to, ref, f.unit, f.rateType, f.rate, f.contract)
	consent, body, err := c.ConsentOf(ctx, cc, tpp.International, in)
	if err != nil {
		return err
	}
	if !quiet {
		var cn struct {
			Data struct{ ExchangeRateInformation, Charges any }
		}
		if json.Unmarshal(body, &cn) == nil {
			fmt.Fprintf(errOut, "consent %s: rate %v, charges %v\n", consent, cn.Data.ExchangeRateInformation, cn.Data.Charges)
		}
	}
	toks, err := approve(consent)
	if err != nil {
		return err
	}
	id, _, err := c.PayOf(ctx, toks.AccessToken, tpp.International, consent, in, uuid.NewString())
	if err != nil {
		return err
	}
	var payment any
	if err := c.Call(ctx, http.MethodGet, c.API()+"/pisp/"+tpp.International.Orders+"/"+id, "", cc, nil, http.StatusOK, &payment); err != nil {
		return err
	}
	return enc.Encode(payment)
}

// tppPayFile pays a payment file and prints its report file.
func tppPayFile(ctx context.Context, c *tpp.Client, cc, path string, approve func(string) (*tpp.Tokens, error), enc *json.Encoder,
	quiet bool, errOut io.Writer) error {
	file, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	id, report, err := c.FilePayment(ctx, cc, file, approve)
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(errOut, "file payment %s made; its report file follows\n", id)
	}
	return enc.Encode(report)
}
