package seed

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Transaction kinds: ISO 20022 bank transaction family / sub-family names and
// the short code a UK statement shows.
type kind struct{ code, sub, prop string }

var (
	kSalary      = kind{"ReceivedCreditTransfers", "DomesticCreditTransfer", "BGC"}
	kFPIn        = kind{"ReceivedCreditTransfers", "DomesticCreditTransfer", "FPI"}
	kSEPAIn      = kind{"ReceivedCreditTransfers", "SEPACreditTransfer", "SCT"}
	kStanding    = kind{"IssuedCreditTransfers", "StandingOrder", "SO"}
	kDirectDebit = kind{"IssuedDirectDebits", "DirectDebitPayment", "DD"}
	kSEPADebit   = kind{"IssuedDirectDebits", "SEPACoreDirectDebit", "DD"}
	kCard        = kind{"CustomerCardTransactions", "PointOfSalePayment", "DEB"}
	kCreditCard  = kind{"CustomerCardTransactions", "PointOfSalePayment", "POS"}
	kCash        = kind{"CustomerCardTransactions", "CashWithdrawal", "CPT"}
	kTransferOut = kind{"IssuedCreditTransfers", "InternalBookTransfer", "TFR"}
	kTransferIn  = kind{"ReceivedCreditTransfers", "InternalBookTransfer", "TFR"}
	kFPOut       = kind{"IssuedCreditTransfers", "DomesticCreditTransfer", "FPO"}
	kInterest    = kind{"MiscellaneousCreditOperations", "Interest", "INT"}
)

// entry is one posting waiting to be applied in time order.
type entry struct {
	at       time.Time
	seq      int
	acct     int
	amount   int64        // signed; ignored when amountFn is set
	amountFn func() int64 // computed when applied (interest, repayments, drains)
	optional bool         // discretionary: skipped rather than overdraw
	credit   int          // 1 + index of the account a transfer credits; 0: none
	kind     kind
	cp       *bank.AccountRef
	merchant *fixtures.Merchant
	auth     string // card authorisation type, card entries only
	ref      string
	info     string
	manual   bool // written by hand: pending only when it says so
	pending  bool // manual entries: Pending
}

// acct is an account being generated.
type acct struct {
	spec      fixtures.Account
	a         bank.Account
	opening   int64
	booked    int64
	pendD     int64
	pendC     int64
	keepBelow int64
	txs       []bank.Transaction
	out       store.HouseholdAccount
}

// gen generates one household from one random stream.
type gen struct {
	r        *rand.Rand
	b        *builder
	p        fixtures.Persona
	index    int
	start    time.Time // first day of history
	anchor   time.Time // the seed date: history ends here
	pendFrom time.Time // card entries after this are still pending
	accts    []*acct
	entries  []entry
	seq      int
}

func (g *gen) add(e entry) {
	g.seq++
	e.seq = g.seq
	g.entries = append(g.entries, e)
}

// household turns a persona into a store.Household: its accounts, the
// generator's history when generate is set (over the persona's own
// history.months if it gives them), and its hand-written entries.
func (b *builder) household(index int, p fixtures.Persona, generate bool) (*store.Household, error) {
	r := rand.New(rand.NewPCG(b.opt.Seed, 0x5eed0000+uint64(index)))
	g := &gen{r: r, b: b, p: p, index: index, anchor: b.anchor}
	months := 0
	if generate {
		months = b.opt.Months
		if p.History != nil {
			months = p.History.Months
		}
	}
	g.start = b.anchor.AddDate(0, -months, 0)
	g.pendFrom = b.anchor.Add(-60 * time.Hour)
	for _, a := range p.Accounts {
		for _, t := range a.Transactions {
			if at, err := fixtures.ParseDate(t.Date); err == nil && at.Before(g.start) {
				g.start = day(at)
			}
		}
	}

	h := &store.Household{Username: p.Username}
	h.Person = bank.Party{
		ID: uuid(r), Number: digits(r, 8), Type: "Sole", Name: p.Name, LegalName: p.Name,
		Email: p.Email, Mobile: p.Mobile, Phone: p.Mobile,
		Address: bank.Address{Building: p.Address.Building, Street: p.Address.Street, Town: p.Address.Town,
			PostCode: p.Address.PostCode, Country: p.Address.Country, Residence: true},
	}
	if biz := p.Business; biz != nil {
		h.Business = &bank.Party{
			ID: uuid(r), Number: digits(r, 8), Type: "Sole", Name: biz.Name, LegalName: biz.LegalName,
			Email: biz.Email, Phone: biz.Phone, Mobile: p.Mobile, Business: true,
			Address: bank.Address{Building: p.Address.Building, Street: p.Address.Street, Town: p.Address.Town,
				PostCode: p.Address.PostCode, Country: p.Address.Country},
		}
	}
	for k, spec := range p.Accounts {
		a, err := g.newAccount(k, spec, h)
		if err != nil {
			return nil, fmt.Errorf("%s: account %q: %w", p.Username, spec.Key, err)
		}
		g.accts = append(g.accts, a)
	}
	if generate {
		if err := g.schedule(); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Username, err)
		}
	}
	if err := g.manual(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Username, err)
	}
	g.post()
	if err := g.settleBalances(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Username, err)
	}
	for _, a := range g.accts {
		g.finish(a)
		h.Accounts = append(h.Accounts, a.out)
	}
	return h, nil
}

func money(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	v, err := bank.ParseMinor(strings.TrimPrefix(s, "-"))
	if neg {
		v = -v
	}
	return v, err
}

func moneyOr(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	return money(s)
}

func (g *gen) newAccount(k int, spec fixtures.Account, h *store.Household) (*acct, error) {
	r := g.r
	a := &acct{spec: spec}
	var err error
	if a.opening, err = moneyOr(spec.Opening, 0); err != nil {
		return nil, err
	}
	a.booked = a.opening
	if a.keepBelow, err = moneyOr(spec.KeepBelow, 0); err != nil {
		return nil, err
	}
	limit, err := moneyOr(spec.Overdraft, 0)
	if err != nil {
		return nil, err
	}
	if spec.CreditLimit != "" {
		if limit, err = money(spec.CreditLimit); err != nil {
			return nil, err
		}
	}
	typ := cmp.Or(spec.Type, "Personal")
	holder := g.p.Name
	if typ == "Business" && h.Business != nil {
		holder = h.Business.LegalName
	}
	acc := bank.Account{
		ID: cmp.Or(spec.ID, uuid(r)), PSU: g.p.Username, Currency: cmp.Or(spec.Currency, "GBP"),
		Type: typ, SubType: spec.SubType, Nickname: spec.Nickname, Status: "Enabled",
		OpenedAt:   day(g.start.AddDate(0, 0, -30-r.IntN(2400))),
		HolderName: holder, BIC: BIC, CreditLimit: limit,
	}
	acc.Description = map[string]string{"CurrentAccount": "Current account", "Savings": "Easy access saver",
		"CreditCard": "Credit card"}[spec.SubType]
	if acc.Type == "Business" {
		acc.Description = "Business current account"
	}
	// Every account has an IBAN: made from its sort code and number, or for
	// an account without them (IBAN-only, and card accounts, whose number
	// the PSU never sees) from the bank's own.
	sc, num := spec.SortCode, spec.Number
	if sc == "" {
		sc = "09012" + string(byte('0'+g.index%8))
	}
	if num == "" { // (a PSU added at run time has a hash for its index: kept to 7 digits)
		num = fmt.Sprintf("2%07d", (uint64(g.index)*8+uint64(k))%10_000_000)
	}
	acc.IBAN = ukIBAN(sc, num)
	switch {
	case acc.IsCard():
		acc.PAN = spec.PAN
		if acc.PAN == "" {
			acc.PAN = luhnPAN(r, "4929")
		}
		acc.CardPAN, acc.CardScheme = acc.PAN, cmp.Or(spec.CardScheme, "VISA")
	default:
		if !spec.IBANOnly {
			acc.SortCode, acc.Number = sc, num
		}
		if spec.SubType == "CurrentAccount" {
			acc.CardPAN, acc.CardScheme = luhnPAN(r, "4659"), "VISA"
		}
	}
	acc.ProductID = productID(acc)
	a.a = acc
	a.out.HeldByBusiness = acc.Type == "Business" && h.Business != nil
	return a, nil
}

func day(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }

// at gives the date of day-of-month d in month m (clamped to the month's
// length) at hour h.
func at(m time.Time, d, h int) time.Time {
	last := time.Date(m.Year(), m.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(m.Year(), m.Month(), min(d, last), h, 0, 0, 0, time.UTC)
}

// workingDayBefore moves a weekend date back to Friday (salaries);
// workingDayAfter moves it on to Monday (Direct Debits, standing orders).
func workingDayBefore(t time.Time) time.Time {
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

func workingDayAfter(t time.Time) time.Time {
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// months calls f for the first day of every month of the history.
func (g *gen) months(f func(m time.Time)) {
	for m := time.Date(g.start.Year(), g.start.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(g.anchor); m = m.AddDate(0, 1, 0) {
		f(m)
	}
}

func (g *gen) inHistory(t time.Time) bool { return !t.Before(g.start) && t.Before(g.anchor) }

func (g *gen) key(k string) int {
	for i, a := range g.accts {
		if a.spec.Key == k {
			return i
		}
	}
	return -1
}

// own finds an account of the household by sort code and number (a standing
// order to one's own account is a transfer the bank books on both sides).
func (g *gen) own(sortCode, number string) int {
	for i, a := range g.accts {
		if a.a.SortCode == sortCode && a.a.Number == number && sortCode != "" {
			return i
		}
	}
	return -1
}

func ukRef(name, sortCode, number string) *bank.AccountRef {
	return &bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: sortCode + number, Name: name}
}

// schedule lays down every posting of the history, then the spending.
func (g *gen) schedule() error {
	for i, a := range g.accts {
		s := a.spec
		if sal := s.Salary; sal != nil {
			amt, err := money(sal.Amount)
			if err != nil {
				return err
			}
			cp := &bank.AccountRef{Name: sal.From}
			g.months(func(m time.Time) {
				t := workingDayBefore(at(m, sal.Day, 2))
				if g.inHistory(t) {
					k := kSalary
					if a.a.Currency == "EUR" {
						k = kSEPAIn
					}
					g.add(entry{at: t, acct: i, amount: amt, kind: k, cp: cp,
						ref: cmp.Or(sal.Reference, "SALARY"), info: sal.From + " " + cmp.Or(sal.Reference, "SALARY")})
				}
			})
		}
		if inv := s.Invoices; inv != nil {
			lo, err := money(inv.Min)
			if err != nil {
				return err
			}
			hi, err := money(inv.Max)
			if err != nil {
				return err
			}
			clients := make([]string, 8)
			for c := range clients {
				clients[c] = g.b.company(g.r)
			}
			g.months(func(m time.Time) {
				n := inv.Count/2 + g.r.IntN(inv.Count+1)
				for range n {
					t := workingDayAfter(m.Add(time.Duration(g.r.IntN(28*24)) * time.Hour))
					if g.inHistory(t) {
						c := clients[g.r.IntN(len(clients))]
						ref := fmt.Sprintf("INV-%04d", 1000+g.r.IntN(9000))
						g.add(entry{at: t, acct: i, amount: lo + g.r.Int64N(hi-lo+1), kind: kFPIn,
							cp: ukRef(c, digits(g.r, 6), digits(g.r, 8)), ref: ref, info: c + " " + ref})
					}
				}
			})
		}
		for _, so := range s.StandingOrders {
			amt, err := money(so.Amount)
			if err != nil {
				return err
			}
			cp := ukRef(so.To, so.SortCode, so.Number)
			mirror := g.own(so.SortCode, so.Number)
			g.months(func(m time.Time) {
				t := workingDayAfter(at(m, so.Day, 6))
				if g.inHistory(t) {
					g.add(entry{at: t, acct: i, amount: -amt, kind: kStanding, cp: cp, credit: mirror + 1,
						ref: so.Reference, info: so.To + " " + so.Reference})
				}
			})
		}
		for _, dd := range s.DirectDebits {
			amt, err := money(dd.Amount)
			if err != nil {
				return err
			}
			every := 1
			if dd.Frequency == "quarterly" {
				every = 3
			}
			cp := &bank.AccountRef{Name: dd.To}
			k := kDirectDebit
			if a.a.Currency == "EUR" {
				k = kSEPADebit
			}
			n := 0
			g.months(func(m time.Time) {
				n++
				t := workingDayAfter(at(m, dd.Day, 5))
				if n%every == 0 && g.inHistory(t) {
					// Bills drift a little from month to month; fixed ones do not.
					v := amt
					if dd.Reference == "" && every == 1 && g.r.IntN(3) == 0 {
						v += int64(g.r.IntN(400)) - 200
					}
					g.add(entry{at: t, acct: i, amount: -max(v, 100), kind: k, cp: cp,
						ref: cmp.Or(dd.Reference, strings.ToUpper(dd.To)), info: strings.ToUpper(dd.To)})
				}
			})
		}
		for _, sub := range s.Subscriptions {
			amt, err := money(sub.Amount)
			if err != nil {
				return err
			}
			m := &fixtures.Merchant{Name: sub.Merchant, MCC: "5815"}
			g.months(func(mo time.Time) {
				t := at(mo, sub.Day, 4)
				if g.inHistory(t) {
					g.add(entry{at: t, acct: i, amount: -amt, kind: kCard, merchant: m, auth: "None",
						info: sub.Merchant})
				}
			})
		}
		for _, tr := range s.Transfers {
			to := g.key(tr.To)
			if to < 0 {
				return fmt.Errorf("transfer to unknown account %q", tr.To)
			}
			dst := g.accts[to].a
			e := entry{acct: i, credit: to + 1, kind: kTransferOut, ref: tr.Reference, info: tr.Reference,
				cp: accountRef(dst)}
			if tr.Amount == "full" {
				card := g.accts[to]
				src := a
				e.amountFn = func() int64 {
					owed := -card.booked
					if owed <= 0 {
						return 0
					}
					if avail := src.booked - src.pendD + src.a.CreditLimit; owed > avail {
						owed = max(min(avail, owed/20), 0) // the minimum payment, if even that
					}
					return -owed
				}
			} else {
				amt, err := money(tr.Amount)
				if err != nil {
					return err
				}
				e.amount, e.optional = -amt, true
			}
			g.months(func(m time.Time) {
				t := workingDayAfter(at(m, tr.Day, 9))
				if g.inHistory(t) {
					e := e
					e.at = t
					g.add(e)
				}
			})
		}
		if cap := sweepCap(s); cap > 0 {
			a := a
			pot := &bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: "040075" + digits(g.r, 8), Name: "MONEYBOX SAVINGS"}
			if a.a.Type == "Business" {
				pot.Name = "BUSINESS RESERVE ACCOUNT"
			}
			g.months(func(m time.Time) {
				t := workingDayAfter(at(m, 3, 11))
				if g.inHistory(t) {
					g.add(entry{at: t, acct: i, kind: kFPOut, cp: pot, ref: "SAVINGS POT", info: pot.Name + " SAVINGS POT",
						amountFn: func() int64 {
							if over := a.booked - a.pendD - cap; over > cap/2 {
								return -(over / 10000 * 10000)
							}
							return 0
						}})
				}
			})
		}
		if s.InterestRate != "" {
			rate, err := money(s.InterestRate) // percent with two decimals: 3.10% -> 310
			if err != nil {
				return err
			}
			a := a
			g.months(func(m time.Time) {
				t := at(m, 1, 1)
				if g.inHistory(t) {
					g.add(entry{at: t, acct: i, kind: kInterest, ref: "INTEREST", info: "GROSS INTEREST",
						amountFn: func() int64 { return max(a.booked, 0) * rate / 120000 }})
				}
			})
		}
		if a.keepBelow > 0 {
			a := a
			for t := g.start.Add(13 * time.Hour); t.Before(g.anchor); t = t.AddDate(0, 0, 3) {
				g.add(entry{at: t, acct: i, kind: kCash, optional: true, auth: "PIN",
					merchant: &fixtures.Merchant{Name: "CASH " + strings.ToUpper(g.p.Address.Town), MCC: "6011"},
					info:     "CASH " + strings.ToUpper(g.p.Address.Town),
					amountFn: func() int64 {
						over := a.booked - a.pendD - a.keepBelow
						return -(over / 1000 * 1000)
					}})
			}
		}
	}
	g.spending()
	return nil
}

// spending draws day-to-day card spending and cash withdrawals, split between
// the household's current account(s) and card by each account's card_share.
func (g *gen) spending() {
	rate := map[string]float64{"frugal": 0.7, "normal": 1.25, "lavish": 2.0}[g.p.Spending]
	if rate == 0 {
		rate = g.b.opt.spendingRate
	}
	var payers []int
	var shares []float64
	rest := 1.0
	for i, a := range g.accts {
		if a.a.CardPAN == "" {
			continue
		}
		if a.a.IsCard() {
			sh := a.spec.CardShare
			if sh == 0 {
				sh = 0.3
			}
			rest -= sh
			payers, shares = append(payers, i), append(shares, sh)
		}
	}
	var currents []int
	for i, a := range g.accts {
		if a.a.CardPAN != "" && !a.a.IsCard() && a.a.Type == "Personal" {
			currents = append(currents, i)
		}
	}
	if len(currents) == 0 {
		for i, a := range g.accts {
			if a.a.CardPAN != "" && !a.a.IsCard() {
				currents = append(currents, i)
			}
		}
	}
	for _, i := range currents {
		payers, shares = append(payers, i), append(shares, max(rest, 0)/float64(len(currents)))
	}
	if len(payers) == 0 {
		return
	}
	town := strings.ToUpper(g.p.Address.Town)
	for d := g.start; d.Before(g.anchor); d = d.AddDate(0, 0, 1) {
		r := rate
		if d.Weekday() == time.Saturday {
			r *= 1.4
		}
		n := int(r)
		if g.r.Float64() < r-float64(n) {
			n++
		}
		for range n {
			m := g.b.merchant(g.r)
			lo, hi := m.min, m.max
			amt := lo + g.r.Int64N(hi-lo+1)
			t := d.Add(time.Duration(7*3600+g.r.IntN(15*3600)) * time.Second)
			x := g.r.Float64()
			p := payers[len(payers)-1]
			for j, sh := range shares {
				if x < sh {
					p = payers[j]
					break
				}
				x -= sh
			}
			a := g.accts[p]
			auth := "Contactless"
			switch {
			case !m.Town:
				auth = "ConsumerDevice"
			case amt > 10000 || g.r.IntN(8) == 0:
				auth = "PIN"
			}
			info := m.Name
			if m.Town {
				info += " " + town
			}
			k := kCard
			if a.a.IsCard() {
				k = kCreditCard
			}
			g.add(entry{at: t, acct: p, amount: -amt, optional: true, kind: k, merchant: &m.Merchant, auth: auth, info: info})
		}
		if d.Day()%9 == 4 && len(currents) > 0 && g.r.IntN(2) == 0 {
			i := currents[0]
			g.add(entry{at: d.Add(time.Duration(10+g.r.IntN(10)) * time.Hour), acct: i, amount: -int64(2+g.r.IntN(9)) * 1000,
				optional: true, kind: kCash, auth: "PIN",
				merchant: &fixtures.Merchant{Name: "CASH " + town, MCC: "6011"}, info: "CASH " + town})
		}
	}
}

// post applies the entries in time order against running balances.
func (g *gen) post() {
	slices.SortFunc(g.entries, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for i := range g.entries {
		e := &g.entries[i]
		a := g.accts[e.acct]
		amt := e.amount
		if e.amountFn != nil {
			amt = e.amountFn()
		}
		if amt == 0 {
			continue
		}
		if amt < 0 && e.optional && a.booked-a.pendD+a.a.CreditLimit+amt < 0 {
			continue // not enough money: the PSU does without
		}
		pending := e.pending || (!e.manual && e.kind.sub == "PointOfSalePayment" && !e.at.Before(g.pendFrom))
		g.record(a, e, amt, pending, e.cp)
		if e.credit > 0 {
			to := g.accts[e.credit-1]
			src := accountRef(a.a)
			in := *e
			in.kind = kTransferIn
			if e.kind == kStanding {
				in.kind = kFPIn
			}
			g.record(to, &in, convert(-amt, a.a.Currency, to.a.Currency), false, src)
		}
	}
}

// accountRef names an account of the bank the way a counterparty sees it:
// by sort code and number, by IBAN where it has no sort code, by the masked
// card number for a card.
func accountRef(a bank.Account) *bank.AccountRef {
	ids := a.Identifiers(false)
	if len(ids) == 0 {
		return nil
	}
	return &ids[0]
}

func (g *gen) record(a *acct, e *entry, amt int64, pending bool, cp *bank.AccountRef) {
	t := bank.Transaction{
		AccountID: a.a.ID, Status: bank.StatusBooked, BookedAt: e.at, ValueAt: e.at, Amount: amt, Currency: a.a.Currency,
		Reference: e.ref, Information: e.info, Code: e.kind.code, SubCode: e.kind.sub, ProprietaryCode: e.kind.prop,
	}
	if cp != nil && cp.Name != "" {
		c := *cp
		t.Counterparty = &c
	}
	if m := e.merchant; m != nil {
		t.MerchantName, t.MerchantCategory = m.Name, m.MCC
		t.Card = &bank.Card{Scheme: a.a.CardScheme, AuthType: e.auth, Name: g.p.Name, Masked: bank.MaskPAN(a.a.CardPAN)}
	}
	if pending {
		t.Status = bank.StatusPending
		if amt < 0 {
			a.pendD -= amt
		} else {
			a.pendC += amt
		}
	} else {
		a.booked += amt
		t.Balance, t.HasBalance = a.booked, true
	}
	a.txs = append(a.txs, t)
}

// finish derives an account's records from its ledger.
func (g *gen) finish(a *acct) {
	r := g.r
	o := &a.out
	if a.a.OpenedAt.After(g.start) {
		a.a.OpenedAt = g.start
	}
	o.Account = a.a
	o.Opening, o.Booked, o.PendingDebits, o.PendingCredits = a.opening, a.booked, a.pendD, a.pendC
	o.Transactions = a.txs
	s := a.spec
	seen := map[string]bool{}
	for _, p := range s.Payees {
		seen[p.SortCode+p.Number] = true
		o.Beneficiaries = append(o.Beneficiaries, bank.Beneficiary{ID: uuid(r), AccountID: a.a.ID, Type: "Trusted",
			Reference: p.Reference, Creditor: *ukRef(p.Name, p.SortCode, p.Number)})
	}
	for _, so := range s.StandingOrders {
		amt, _ := money(so.Amount)
		cp := ukRef(so.To, so.SortCode, so.Number)
		if !seen[so.SortCode+so.Number] {
			seen[so.SortCode+so.Number] = true
			o.Beneficiaries = append(o.Beneficiaries, bank.Beneficiary{ID: uuid(r), AccountID: a.a.ID, Type: "Ordinary",
				Reference: so.Reference, Creditor: *cp})
		}
		so := bank.StandingOrder{ID: uuid(r), AccountID: a.a.ID, Frequency: fmt.Sprintf("IntrvlMnthDay:01:%02d", min(so.Day, 31)),
			Reference: so.Reference, Status: "Active", Currency: a.a.Currency, Amount: amt, Creditor: *cp, CreditorBIC: ""}
		so.FirstAt, so.LastAt = g.occurrences(a, so.Reference, kStanding)
		if so.FirstAt.IsZero() {
			so.FirstAt = g.start
		}
		so.NextAt = workingDayAfter(at(g.anchor, soDay(so.Frequency), 6))
		if so.NextAt.Before(g.anchor) {
			so.NextAt = workingDayAfter(at(g.anchor.AddDate(0, 1, 0), soDay(so.Frequency), 6))
		}
		o.StandingOrders = append(o.StandingOrders, so)
	}
	for _, dd := range s.DirectDebits {
		d := bank.DirectDebit{ID: uuid(r), AccountID: a.a.ID, Mandate: "MNDT" + digits(r, 10), Name: dd.To,
			Status: "Active", Frequency: "UK.OBIE.Monthly", Currency: a.a.Currency}
		if dd.Frequency == "quarterly" {
			d.Frequency = "UK.OBIE.Quarterly"
		}
		for j := len(a.txs) - 1; j >= 0; j-- {
			t := a.txs[j]
			if t.Counterparty != nil && t.Counterparty.Name == dd.To && t.ProprietaryCode == "DD" {
				d.PreviousAt, d.PreviousPaid = t.BookedAt, -t.Amount
				break
			}
		}
		o.DirectDebits = append(o.DirectDebits, d)
	}
	for _, sp := range s.Scheduled {
		amt, _ := money(sp.Amount)
		o.Scheduled = append(o.Scheduled, bank.ScheduledPayment{ID: uuid(r), AccountID: a.a.ID,
			At: workingDayAfter(g.anchor.AddDate(0, 0, sp.InDays)), Type: "Execution", Reference: sp.Reference,
			Currency: a.a.Currency, Amount: amt, Creditor: *ukRef(sp.To, sp.SortCode, sp.Number)})
	}
	o.Statements = g.statements(a)
	o.Product = product(a.a)
	o.Offers = g.offers(a)
}

func soDay(freq string) int {
	var d int
	fmt.Sscanf(freq[len(freq)-2:], "%d", &d)
	return d
}

// occurrences finds the first and last booked entry of a regular payment.
func (g *gen) occurrences(a *acct, ref string, k kind) (first, last time.Time) {
	for _, t := range a.txs {
		if t.Reference == ref && t.ProprietaryCode == k.prop && t.Status == bank.StatusBooked {
			if first.IsZero() {
				first = t.BookedAt
			}
			last = t.BookedAt
		}
	}
	return first, last
}

// statements cuts the ledger into monthly statements for every whole month.
func (g *gen) statements(a *acct) []bank.Statement {
	var out []bank.Statement
	bal := a.opening
	j := 0
	for m := time.Date(g.start.Year(), g.start.Month(), 1, 0, 0, 0, 0, time.UTC); ; m = m.AddDate(0, 1, 0) {
		end := m.AddDate(0, 1, 0)
		if end.After(g.anchor) {
			break
		}
		st := bank.Statement{ID: uuid(g.r), AccountID: a.a.ID, Type: "RegularPeriodic", Start: m, End: end.Add(-time.Second),
			CreatedAt: end.Add(26 * time.Hour), Currency: a.a.Currency, Opening: bal,
			Reference:   fmt.Sprintf("%s-%s", strings.ToUpper(m.Format("Jan06")), a.a.ID[:4]),
			Description: fmt.Sprintf("%s statement for %s", m.Format("January 2006"), a.a.Nickname)}
		for ; j < len(a.txs) && a.txs[j].BookedAt.Before(end); j++ {
			t := a.txs[j]
			if t.Status != bank.StatusBooked || t.BookedAt.Before(m) {
				continue
			}
			if t.Amount > 0 {
				st.Credits += t.Amount
			} else {
				st.Debits -= t.Amount
			}
			bal = t.Balance
		}
		st.Closing = bal
		if m.Before(g.start) {
			continue // a part month before the history starts
		}
		out = append(out, st)
	}
	return out
}

func productID(a bank.Account) string {
	switch {
	case a.Type == "Business":
		return "SBOX-BCA-01"
	case a.SubType == "Savings":
		return "SBOX-SAV-EA"
	case a.IsCard():
		return "SBOX-CC-RWD"
	case a.Currency == "EUR":
		return "SBOX-PCA-EUR"
	}
	return "SBOX-PCA-01"
}

func product(a bank.Account) *bank.Product {
	p := &bank.Product{ID: a.ProductID, AccountID: a.ID, MarketingID: "MKT-" + a.ProductID}
	switch {
	case a.Type == "Business":
		p.Name, p.Type = "Sandbox Business Current Account", "BusinessCurrentAccount"
	case a.SubType == "Savings":
		p.Name, p.Type = "Sandbox Easy Access Saver", "Other"
		p.OtherName, p.OtherDesc = "Easy Access Saver", "Instant access savings account paying monthly interest"
	case a.IsCard():
		p.Name, p.Type = "Sandbox Rewards Credit Card", "Other"
		p.OtherName, p.OtherDesc = "Rewards Credit Card", "Credit card with 0.5% cashback on purchases"
	case a.Currency == "EUR":
		p.Name, p.Type = "Sandbox Euro Current Account", "PersonalCurrentAccount"
	default:
		p.Name, p.Type = "Sandbox Current Account", "PersonalCurrentAccount"
	}
	return p
}

func (g *gen) offers(a *acct) []bank.Offer {
	start := g.anchor.AddDate(0, 0, -10)
	switch {
	case a.a.IsCard():
		return []bank.Offer{{ID: uuid(g.r), AccountID: a.a.ID, Type: "BalanceTransfer",
			Description: "0% on balance transfers for 18 months (3% fee)", Start: start, End: start.AddDate(0, 3, 0),
			Rate: "0.0", Currency: a.a.Currency, Amount: 300000, Fee: 300, URL: "https://sandbox.example/offers/bt18"}}
	case a.a.SubType == "CurrentAccount" && a.a.Type == "Personal" && g.r.IntN(2) == 0:
		return []bank.Offer{{ID: uuid(g.r), AccountID: a.a.ID, Type: "LimitIncrease",
			Description: "Increase your arranged overdraft", Start: start, End: start.AddDate(0, 2, 0),
			Currency: a.a.Currency, Amount: a.a.CreditLimit + 50000, URL: "https://sandbox.example/offers/overdraft"}}
	}
	return nil
}

// sweepCap is the balance above which a current account with regular income
// moves the surplus to savings elsewhere each month: twice the monthly income.
func sweepCap(s fixtures.Account) int64 {
	switch {
	case s.KeepBelow != "":
		return 0
	case s.Salary != nil:
		v, _ := money(s.Salary.Amount)
		return 2 * v
	case s.Invoices != nil:
		v, _ := money(s.Invoices.Max)
		return int64(s.Invoices.Count) * v
	case s.SubType == "CurrentAccount" && s.Currency != "EUR":
		return 500000
	}
	return 0
}

// convert moves an amount between the currencies the bank holds at the
// bank's base rates (a transfer from a GBP to a EUR account credits euros):
// the history is generated at fixed rates, the sandbox clock moves them on.
func convert(minor int64, from, to string) int64 {
	if from == to {
		return minor
	}
	f, t := bank.BaseRatesPerGBP[from], bank.BaseRatesPerGBP[to]
	if f == 0 || t == 0 {
		return minor
	}
	return minor * t / f
}
