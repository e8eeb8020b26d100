package seed

import (
	"cmp"
	"hash/fnv"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Persona builds the household of one PSU added at run time (POST
// /sandbox/psus): its accounts, the generator's history when the persona
// asks for one (history: months and seed), and its hand-written entries,
// ending at today (the bank's date). Every account needs a sort code and
// number, or a card number, already: the caller assigns free ones. The
// random stream is drawn from the username and the history's seed, so the
// same persona gives the same household, ids included.
func Persona(fx *fixtures.Fixtures, p fixtures.Persona, today time.Time) (*store.Household, error) {
	opt := Options{Date: today}
	if p.History != nil {
		opt.Seed, opt.Months = p.History.Seed, p.History.Months
	}
	b, err := newBuilder(fx, opt)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(p.Username))
	index := int(h.Sum64() >> 2) // positive; far from the seeded PSUs' small indexes
	return b.household(index, p, p.History != nil)
}

// manual lays down the hand-written entries of every account.
func (g *gen) manual() error {
	for i, a := range g.accts {
		for _, t := range a.spec.Transactions {
			at, err := fixtures.ParseDate(t.Date)
			if err != nil {
				return err
			}
			amt, err := fixtures.SignedMinor(t.Amount)
			if err != nil {
				return err
			}
			e := entry{at: at, acct: i, amount: amt, manual: true, pending: t.Status == "Pending",
				ref: t.Reference, info: t.Information}
			switch {
			case t.Merchant != "":
				e.kind, e.auth = kCard, "Contactless"
				if a.a.IsCard() {
					e.kind = kCreditCard
				}
				e.merchant = &fixtures.Merchant{Name: t.Merchant, MCC: cmp.Or(t.MCC, "5999")}
				e.info = cmp.Or(e.info, strings.ToUpper(t.Merchant))
			case amt > 0:
				e.kind = kFPIn
			default:
				e.kind = kFPOut
			}
			if t.Counterparty != "" {
				e.cp = &bank.AccountRef{Name: t.Counterparty}
				e.info = cmp.Or(e.info, strings.TrimSpace(t.Counterparty+" "+t.Reference))
			}
			g.add(e)
		}
	}
	return nil
}

// settleBalances gives each account that states its balance now (balance:)
// that booked balance: the opening balance and every running balance move
// by the same amount, so the ledger still reconciles entry by entry.
func (g *gen) settleBalances() error {
	for _, a := range g.accts {
		if a.spec.Balance == "" {
			continue
		}
		want, err := money(a.spec.Balance)
		if err != nil {
			return err
		}
		d := want - a.booked
		a.opening += d
		a.booked += d
		for j := range a.txs {
			if a.txs[j].HasBalance {
				a.txs[j].Balance += d
			}
		}
	}
	return nil
}
