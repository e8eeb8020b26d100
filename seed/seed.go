package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// DefaultDate is the default seed date: every generated history ends here, so
// that a seed gives the same bank whatever day it runs.
var DefaultDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// Options choose the bank to build.
type Options struct {
	Seed     uint64    // the random seed (any value, 0 included)
	PSUs     int       // generated PSUs beyond the fixture personas
	Date     time.Time // the seed date (zero: DefaultDate)
	Months   int       // months of history (zero: 24)
	TxPerPSU int       // rough transactions per generated PSU (zero: 1000)
	// Extra are personas from persona files (--fixtures DIR), seeded after
	// the generated PSUs so that those stay the same with or without them.
	Extra []fixtures.Persona

	spendingRate float64
}

// DefaultPSUs is how many generated PSUs a first start adds to the fixtures.
const DefaultPSUs = 20

// Stats reports what Run built and how fast.
type Stats struct {
	store.LoadStats
	Elapsed time.Duration
}

// RowsPerSecond is the transaction throughput of the run.
func (s Stats) RowsPerSecond() float64 { return float64(s.Transactions) / s.Elapsed.Seconds() }

func (s Stats) String() string {
	return fmt.Sprintf("%d PSUs, %d accounts, %d transactions in %s (%.0f transactions/s)",
		s.PSUs, s.Accounts, s.Transactions, s.Elapsed.Round(time.Millisecond), s.RowsPerSecond())
}

type weighted struct {
	fixtures.Merchant
	min, max int64
}

type builder struct {
	opt       Options
	anchor    time.Time
	fx        *fixtures.Fixtures
	merchants []weighted
	cum       []int
	total     int
}

func (b *builder) merchant(r *rand.Rand) *weighted {
	x := r.IntN(b.total)
	for i, c := range b.cum {
		if x < c {
			return &b.merchants[i]
		}
	}
	return &b.merchants[len(b.merchants)-1]
}

func (b *builder) company(r *rand.Rand) string {
	f := gofakeit.NewFaker(r, false)
	return strings.TrimSuffix(f.LastName()+" "+companyWords[r.IntN(len(companyWords))], " ") + " Ltd"
}

var companyWords = []string{"Consulting", "Logistics", "Media", "Interiors", "Engineering", "Foods", "Digital",
	"Partners", "Systems", "Studios", "Trading", "Analytics"}

// Run rebuilds the bank in s from the fixtures and opt. It replaces the
// bank's data only: registered clients and keys are kept.
func Run(ctx context.Context, s *store.Store, fx *fixtures.Fixtures, opt Options) (Stats, error) {
	t0 := time.Now()
	if opt.Date.IsZero() {
		opt.Date = DefaultDate
	}
	if opt.Months == 0 {
		opt.Months = 24
	}
	if opt.TxPerPSU == 0 {
		opt.TxPerPSU = 1000
	}
	// Regular payments give a generated PSU about 160 entries over two years;
	// card spending makes up the rest.
	days := float64(opt.Months) * 30.4
	opt.spendingRate = max(0.1, (float64(opt.TxPerPSU)*float64(24)/float64(opt.Months)-160)/days/1.05)
	b, err := newBuilder(fx, opt)
	if err != nil {
		return Stats{}, err
	}

	n := len(fx.PSUs) + opt.PSUs + len(opt.Extra)
	persona := func(i int) fixtures.Persona {
		switch {
		case i < len(fx.PSUs):
			return fx.PSUs[i]
		case i >= len(fx.PSUs)+opt.PSUs:
			return opt.Extra[i-len(fx.PSUs)-opt.PSUs]
		}
		return b.randomPersona(i, i-len(fx.PSUs)+1)
	}

	// Households are generated in parallel, each from its own stream, and
	// written strictly in index order: the file does not depend on timing.
	workers := max(1, runtime.GOMAXPROCS(0))
	type result struct {
		h   *store.Household
		err error
	}
	slots := make([]chan result, n)
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int)
	window := make(chan struct{}, 4*workers) // bounds households held in memory
	go func() {
		defer close(next)
		for i := range n {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				h, err := b.household(i, persona(i), true)
				slots[i] <- result{h, err}
			}
		}()
	}
	st, err := s.Load(ctx, func(l *store.Loader) error {
		for i := range n {
			var res result
			select {
			case res = <-slots[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			<-window
			if res.err != nil {
				return res.err
			}
			if err := l.Household(res.h); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	wg.Wait()
	if err != nil {
		return Stats{}, err
	}
	return Stats{LoadStats: st, Elapsed: time.Since(t0)}, nil
}

// newBuilder prepares the generator for fx and opt (defaults filled in).
func newBuilder(fx *fixtures.Fixtures, opt Options) (*builder, error) {
	b := &builder{opt: opt, anchor: opt.Date.UTC().Truncate(24 * time.Hour), fx: fx}
	for _, m := range fx.Merchants {
		lo, err := bank.ParseMinor(m.Min)
		if err != nil {
			return nil, fmt.Errorf("merchant %s: %w", m.Name, err)
		}
		hi, err := bank.ParseMinor(m.Max)
		if err != nil {
			return nil, fmt.Errorf("merchant %s: %w", m.Name, err)
		}
		b.total += max(m.Weight, 1)
		b.merchants = append(b.merchants, weighted{Merchant: m, min: lo, max: hi})
		b.cum = append(b.cum, b.total)
	}
	if b.total == 0 {
		return nil, fmt.Errorf("fixtures: no merchants")
	}
	return b, nil
}

var towns = []struct{ name, postcode string }{
	{"London", "SE15"}, {"Manchester", "M14"}, {"Birmingham", "B13"}, {"Leeds", "LS8"}, {"Glasgow", "G12"},
	{"Cardiff", "CF24"}, {"Bristol", "BS7"}, {"Sheffield", "S11"}, {"Edinburgh", "EH6"}, {"Nottingham", "NG7"},
	{"Newcastle", "NE6"}, {"Brighton", "BN2"}, {"Norwich", "NR2"}, {"Belfast", "BT9"}, {"York", "YO10"},
}

var billers = []struct {
	name     string
	min, max int
}{
	{"Octopus Energy", 4500, 14000}, {"British Gas", 5000, 15000}, {"EDF Energy", 4000, 12000},
	{"Anglian Water", 2500, 5000}, {"Severn Trent", 2500, 5000}, {"Sky UK", 2500, 9000},
	{"BT Group", 2800, 6500}, {"Vodafone", 1000, 4500}, {"O2 UK", 1000, 4500}, {"Aviva Insurance", 1500, 6000},
	{"Direct Line", 2500, 7000}, {"TV Licence", 1325, 1325},
}

var streaming = []string{"NETFLIX.COM", "SPOTIFY UK", "DISNEY PLUS", "AMAZON PRIME", "YOUTUBE PREMIUM", "AUDIBLE UK", "NOW TV"}

// generatedPassword is generated PSU number k's test credential.
func generatedPassword(k int) string { return fmt.Sprintf("pass%04d", k) }

// Credentials tells the test credential of a PSU the seed makes from the
// personas (fixtures) or generates (psu0001/pass0001, ...): the bank keeps
// no copy of these passwords, it lists and checks them from here.
func Credentials(personas []fixtures.Persona) func(username string) (string, bool) {
	byName := make(map[string]string, len(personas))
	for _, p := range personas {
		byName[p.Username] = p.Password
	}
	return func(username string) (string, bool) {
		if pw, ok := byName[username]; ok {
			return pw, true
		}
		var k int
		if n, err := fmt.Sscanf(username, "psu%04d", &k); err == nil && n == 1 && k > 0 && fmt.Sprintf("psu%04d", k) == username {
			return generatedPassword(k), true
		}
		return "", false
	}
}

// randomPersona makes generated PSU number k (1-based) from its own stream.
func (b *builder) randomPersona(index, k int) fixtures.Persona {
	r := rand.New(rand.NewPCG(b.opt.Seed, 0xfe0000+uint64(index)))
	f := gofakeit.NewFaker(r, false)
	first, last := f.FirstName(), f.LastName()
	town := towns[r.IntN(len(towns))]
	user := fmt.Sprintf("psu%04d", k)
	p := fixtures.Persona{
		Username: user, Password: generatedPassword(k), Name: first + " " + last,
		Email:   strings.ToLower(first+"."+last) + "@example.com",
		Mobile:  "+44-77009" + digits(r, 5),
		Address: fixtures.Address{Building: fmt.Sprint(1 + r.IntN(180)), Street: f.StreetName() + " Road", Town: town.name, PostCode: town.postcode + " " + digits(r, 1) + string(byte('A'+r.IntN(26))) + string(byte('A'+r.IntN(26))), Country: "GB"},
	}
	mo := func(lo, hi int) string { return bank.FormatMinor(int64(lo + r.IntN(hi-lo+1))) }
	salary := 160000 + r.IntN(360000)
	cur := fixtures.Account{Key: "current", Nickname: "Current", SubType: "CurrentAccount", Currency: "GBP",
		Opening: mo(20000, 300000), Overdraft: []string{"0.00", "250.00", "500.00", "1000.00"}[r.IntN(4)],
		Salary: &fixtures.Salary{From: b.company(r), Amount: bank.FormatMinor(int64(salary)), Day: []int{25, 26, 28, 1}[r.IntN(4)], Reference: "SALARY"}}
	rent := salary * (25 + r.IntN(15)) / 100
	cur.StandingOrders = append(cur.StandingOrders, fixtures.Payment{To: f.LastName() + " Lettings", SortCode: digits(r, 6),
		Number: digits(r, 8), Amount: bank.FormatMinor(int64(rent)), Day: 1, Reference: "RENT"})
	for _, i := range r.Perm(len(billers))[:3+r.IntN(3)] {
		bl := billers[i]
		cur.DirectDebits = append(cur.DirectDebits, fixtures.Payment{To: bl.name, Amount: mo(bl.min, bl.max), Day: 1 + r.IntN(27)})
	}
	for _, i := range r.Perm(len(streaming))[:r.IntN(3)] {
		cur.Subscriptions = append(cur.Subscriptions, fixtures.Payment{Merchant: streaming[i], Amount: mo(599, 1599), Day: 1 + r.IntN(27)})
	}
	for range r.IntN(3) {
		cur.Payees = append(cur.Payees, fixtures.Payee{Name: f.FirstName() + " " + f.LastName(), SortCode: digits(r, 6), Number: digits(r, 8), Reference: "THANKS"})
	}
	p.Accounts = []fixtures.Account{cur}
	switch r.IntN(4) {
	case 1:
		p.Accounts = append(p.Accounts, fixtures.Account{Key: "savings", Nickname: "Savings", SubType: "Savings",
			Currency: "GBP", Opening: mo(50000, 1500000), InterestRate: "2.75"})
		p.Accounts[0].Transfers = []fixtures.Payment{{To: "savings", Amount: mo(5000, 40000), Day: 27, Reference: "SAVINGS"}}
	case 2:
		p.Accounts = append(p.Accounts, fixtures.Account{Key: "card", Nickname: "Credit Card", SubType: "CreditCard",
			Currency: "GBP", CreditLimit: mo(100000, 800000), Opening: "-" + mo(0, 60000), CardShare: 0.3})
		p.Accounts[0].Transfers = []fixtures.Payment{{To: "card", Amount: "full", Day: 18, Reference: "CARD PAYMENT"}}
	}
	return p
}
