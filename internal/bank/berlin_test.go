package bank

import (
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestChooseApproach: the bank's choice from the TPP's preference headers.
func TestChooseApproach(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		decoupled, redirect *bool
		want                string
	}{
		{nil, nil, ApproachRedirect},
		{ptr(true), nil, ApproachDecoupled},
		{ptr(true), ptr(false), ApproachDecoupled},
		{nil, ptr(false), ApproachEmbedded},
		{ptr(false), ptr(false), ApproachEmbedded},
		{ptr(false), ptr(true), ApproachRedirect},
	} {
		if got := ChooseApproach(tc.decoupled, tc.redirect); got != tc.want {
			t.Errorf("decoupled %v redirect %v: %s, want %s", tc.decoupled, tc.redirect, got, tc.want)
		}
	}
}

// TestBGConsentRules: frequencyPerDay, recurringIndicator, validUntil (cut
// to MaxConsentDays) and the access object's combinations.
func TestBGConsentRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	iban := BGAccountRef{IBAN: "GB33BUKB20201555555555"}
	ok := BGConsentRequest{Access: BGAccess{Accounts: []BGAccountRef{iban}}, RecurringIndicator: true, ValidUntil: "2026-12-31", FrequencyPerDay: 4}
	exp, err := checkBGConsent(ok, now)
	if err != nil || !exp.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a good consent: %v, %v", exp, err)
	}
	far := ok
	far.ValidUntil = "9999-12-31"
	if exp, _ := checkBGConsent(far, now); !exp.Equal(day0(now).AddDate(0, 0, MaxConsentDays+1)) {
		t.Errorf("9999-12-31 expires %v, want %d days on", exp, MaxConsentDays)
	}
	for name, f := range map[string]func(*BGConsentRequest){
		"OneOffTwicePerDay": func(r *BGConsentRequest) { r.RecurringIndicator = false },
		"ZeroPerDay":        func(r *BGConsentRequest) { r.FrequencyPerDay = 0 },
		"PastValidUntil":    func(r *BGConsentRequest) { r.ValidUntil = "2026-11-19" },
		"BadIBAN":           func(r *BGConsentRequest) { r.Access.Accounts = []BGAccountRef{{IBAN: "GB34BUKB20201555555555"}} },
		"BBAN":              func(r *BGConsentRequest) { r.Access.Accounts = []BGAccountRef{{BBAN: "20201555555555"}} },
		"TwoIdentifiers": func(r *BGConsentRequest) {
			r.Access.Accounts = []BGAccountRef{{IBAN: iban.IBAN, PAN: "4929123456781234"}}
		},
		"NoService":       func(r *BGConsentRequest) { r.Access = BGAccess{} },
		"ListsAndAllPsd2": func(r *BGConsentRequest) { r.Access.AllPsd2 = "allAccounts" },
		"HalfBankOffered": func(r *BGConsentRequest) { r.Access.Balances = []BGAccountRef{} },
		"BadAllPsd2":      func(r *BGConsentRequest) { r.Access = BGAccess{AllPsd2: "everything"} },
	} {
		r := ok
		r.Access.Accounts = []BGAccountRef{iban}
		f(&r)
		if _, err := checkBGConsent(r, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	today := ok
	today.ValidUntil = "2026-11-20"
	if _, err := checkBGConsent(today, now); err != nil {
		t.Errorf("valid until today: %v", err)
	}
}

// TestBGRights: what each kind of consent gives of an account.
func TestBGRights(t *testing.T) {
	t.Parallel()
	a := Account{ID: "a1", IBAN: "GB33BUKB20201555555555", Currency: "GBP"}
	b := Account{ID: "a2", IBAN: "GB94BARC10201530093459", Currency: "GBP"}
	consent := func(r string) *Consent {
		return &Consent{Request: []byte(r), Accounts: []string{"a1", "a2"}}
	}
	detailed := consent(`{"access":{"accounts":[{"iban":"GB33BUKB20201555555555"}],"balances":[{"iban":"GB94BARC10201530093459"}]}}`)
	if g := detailed.BGRights(a); !g.Details || g.Balances || g.Transactions {
		t.Errorf("detailed, listed account: %+v", g)
	}
	if g := detailed.BGRights(b); !g.Details || !g.Balances || g.Transactions {
		t.Errorf("detailed, balances account: %+v", g)
	}
	offered := consent(`{"access":{"accounts":[],"transactions":[]}}`)
	if g := offered.BGRights(b); !g.Details || g.Balances || !g.Transactions {
		t.Errorf("bank-offered: %+v", g)
	}
	avail := consent(`{"access":{"availableAccounts":"allAccounts"}}`)
	if g := avail.BGRights(a); !g.Listed || g.Details || g.Balances {
		t.Errorf("available accounts: %+v", g)
	}
	all := consent(`{"access":{"allPsd2":"allAccounts"}}`)
	if g := all.BGRights(a); !g.Details || !g.Balances || !g.Transactions {
		t.Errorf("allPsd2: %+v", g)
	}
	if g := all.BGRights(Account{ID: "a3"}); g.Listed {
		t.Errorf("an account outside the consent: %+v", g)
	}
}

// TestBGFrequency: frequencyCode to the bank's schedule and back.
func TestBGFrequency(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) // a Thursday
	for code, want := range map[string]string{"Daily": "EvryDay", "Weekly": "IntrvlWkDay:01:04", "EveryTwoWeeks": "IntrvlWkDay:02:04",
		"Monthly": "IntrvlMnthDay:01:03", "Quarterly": "IntrvlMnthDay:03:03", "Annual": "IntrvlMnthDay:12:03"} {
		got, err := bgFrequency(code, start, "")
		if err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", code, got, err, want)
		}
		if _, err := ParseFrequency(got, ""); err != nil {
			t.Errorf("%s: %v", got, err)
		}
		if back, _ := BGFrequencyCode(got); back != code {
			t.Errorf("%s back: %s", got, back)
		}
	}
	if got, _ := bgFrequency("Monthly", start, "28"); got != "IntrvlMnthDay:01:28" {
		t.Errorf("dayOfExecution 28: %s", got)
	}
	if _, err := bgFrequency("MonthlyVariable", start, ""); err == nil {
		t.Error("MonthlyVariable accepted")
	}
}

// TestMaskedPAN: card numbers masked and matched as card accounts show them.
func TestMaskedPAN(t *testing.T) {
	t.Parallel()
	pan := "4929123456781234"
	if got := MaskPANBG(pan); got != "492912******1234" {
		t.Errorf("MaskPANBG = %s", got)
	}
	a := Account{PAN: pan}
	for masked, want := range map[string]bool{"492912******1234": true, "************1234": true, "492912xxxxxx1234": true,
		"492912******4321": false, "1234": false} {
		if got := (BGAccountRef{MaskedPAN: masked}).Matches(a); got != want {
			t.Errorf("%s: %v, want %v", masked, got, want)
		}
	}
}
