package bank

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Bank is the bank's use cases: account information within an access
// grant, consents, payment initiation and settlement, funds confirmation.
// Every standard's adapter (UK OB v3.1.11, v4.0, ...) parses its wire
// format, calls one of these and renders the answer in its own shape; the
// rules live here, once.
type Bank struct {
	store Store
	now   func() time.Time
	newID func() string
	// settlement is how long a payment takes from acceptance to
	// AcceptedSettlementCompleted (sandbox time); half of it Pending.
	settlement time.Duration
	login      func(ctx context.Context, username, password string) (bool, error)
	fx         FX
}

// Store is what the bank needs kept: the small ports its use cases read and
// write through, all implemented by package store.
type Store interface {
	AccountStore
	ConsentStore
	PaymentStore
	VRPStore
	FileStore
}

// Config is what New needs.
type Config struct {
	Store Store
	Now   func() time.Time // the sandbox clock
	// NewID makes resource ids (after the kind's prefix); nil: random UUIDs.
	NewID           func() string
	SettlementDelay time.Duration // 0: DefaultSettlementDelay
	// Login checks a PSU's password under the lockout rule, as the PSU's
	// login page does (the authorization server's); false is a wrong
	// password, an unknown PSU or a locked one. nil: no PSU logs in here.
	Login func(ctx context.Context, username, password string) (bool, error)
	// Seed draws the exchange rates' movements (the bank's seed).
	Seed uint64
}

// New makes the bank's use cases over a store.
func New(c Config) *Bank {
	b := &Bank{store: c.Store, now: c.Now, newID: c.NewID, settlement: c.SettlementDelay, login: c.Login, fx: NewFX(c.Seed)}
	if b.newID == nil {
		b.newID = uuid.NewString
	}
	if b.login == nil {
		b.login = func(context.Context, string, string) (bool, error) { return false, nil }
	}
	if b.settlement <= 0 {
		b.settlement = DefaultSettlementDelay
	}
	return b
}

// SettlementDelay is acceptance to AcceptedSettlementCompleted.
func (b *Bank) SettlementDelay() time.Duration { return b.settlement }

// InProcessAfter is acceptance to AcceptedSettlementInProcess.
func (b *Bank) InProcessAfter() time.Duration { return b.settlement / 2 }

// Now is the sandbox clock.
func (b *Bank) Now() time.Time { return b.now() }

// CatchUp brings payments up to the sandbox clock: settlement of domestic
// payments, execution of scheduled payments and standing orders.
func (b *Bank) CatchUp(ctx context.Context) error {
	_, err := b.store.CatchUp(ctx, b.now)
	return err
}

// Rules an audit trail names for refusals of objects: another client's or
// PSU's, or one that does not exist (probes of either are anomalies).
const (
	RuleForeignObject  = "bola.foreign"
	RuleUnknownObject  = "bola.unknown_id"
	RuleMissingPermits = "permission.missing"
)

// clip bounds an id a caller sent before it is echoed in a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
