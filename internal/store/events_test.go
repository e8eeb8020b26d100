package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

const (
	typeUpdate  = "urn:uk:org:openbanking:events:resource-update"
	typeRevoked = "urn:uk:org:openbanking:events:consent-authorization-revoked"
	typeLinked  = "urn:uk:org:openbanking:events:account-access-consent-linked-account-update"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// eventsFixture is a store with one PSU account ("acc-1") and three
// clients: c1 subscribed to everything with a callback, c2 not subscribed,
// c3 subscribed to resource-update only and polling.
func eventsFixture(t *testing.T) (*Store, time.Time) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`INSERT INTO parties(id, party_id, number, type, name, legal_name, email, phone, mobile, business, address)
				VALUES(1, 'p-1', '1', 'Sole', 'Alice', 'Alice', '', '', '', 0, '{}')`,
			`INSERT INTO psus(id, username, password_hash, party) VALUES(1, 'alice', '', 1)`,
			`INSERT INTO accounts(account_id, psu, currency, type, sub_type, nickname, description, status, opened_at, holder_name,
				sort_code, number, iban, pan, bic, card_pan, card_scheme, credit_limit, product_id, opening_balance, booked,
				pending_debits, pending_credits) VALUES('acc-1', 1, 'GBP', 'Personal', 'CurrentAccount', '', '', 'Enabled', 0, 'Alice',
				'', '', '', '', '', '', '', 0, '', 0, 0, 0, 0)`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	for _, sub := range []EventSubscription{
		{ID: "es-1", ClientID: "c1", CallbackURL: "http://127.0.0.1:1/event-notifications", Version: "3.1"},
		{ID: "es-3", ClientID: "c3", Version: "3.1", EventTypes: []string{"UK.OBIE.Resource-Update"}, Filter: []string{typeUpdate}},
	} {
		sub.CreatedAt, sub.UpdatedAt = now, now
		if err := s.CreateEventSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	return s, now
}

func authorisedConsent(t *testing.T, s *Store, id, client string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	c := &bank.Consent{ID: id, Kind: bank.ConsentAccountAccess, ClientID: client, Status: bank.StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now}
	if err := s.CreateConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateConsent(ctx, id, func(c *bank.Consent) error {
		c.Status, c.PSU, c.Accounts = bank.StatusAuthorised, "alice", []string{"acc-1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func eventsOf(t *testing.T, s *Store, client string) []Event {
	t.Helper()
	evs, err := s.Events(context.Background(), EventQuery{ClientID: client})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestEventTriggers: each kind of change records the event it should, for
// the owning client, only when its subscription takes the type, in the
// same transaction; pushes are queued only for a client with a callback.
func TestEventTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := eventsFixture(t)
	for _, c := range []string{"c1", "c2", "c3"} {
		authorisedConsent(t, s, "aac-"+c, c, now)
	}
	// An update that leaves the status alone records nothing.
	if _, err := s.UpdateConsent(ctx, "aac-c1", func(c *bank.Consent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c3"} {
		if err := s.RevokeByPSU(ctx, "alice", "aac-"+c, now); err != nil {
			t.Fatal(err)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO payments(payment_id, kind, consent_id, client_id, status, created_at, status_at,
			account, amount, currency, request) VALUES('dp-1', 'domestic', 'pdc-1', 'c1', 'Pending', 0, 0, 1, 100, 'GBP', '{}')`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE payments SET status = 'AcceptedSettlementInProcess' WHERE payment_id = 'dp-1'"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET status = 'Deleted' WHERE account_id = 'acc-1'")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	type want struct{ typ, family, kind, rid, reason string }
	tests := []struct {
		client     string
		want       []want // newest first
		deliveries int
	}{
		{"c1", []want{
			// The consent was revoked by the PSU before the account closed: no linked-account event for it.
			{typeUpdate, EventPayment, bank.OrderDomestic, "dp-1", ""},
			{typeRevoked, EventConsent, bank.ConsentAccountAccess, "aac-c1", ""},
			{typeUpdate, EventConsent, bank.ConsentAccountAccess, "aac-c1", ""},
		}, 3},
		{"c2", nil, 0},
		{"c3", []want{{typeUpdate, EventConsent, bank.ConsentAccountAccess, "aac-c3", ""}}, 0},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			evs := eventsOf(t, s, tt.client)
			if len(evs) != len(tt.want) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(tt.want), evs)
			}
			n := 0
			for i, e := range evs {
				got := want{e.Type, e.Family, e.Kind, e.RID, e.Reason}
				if got != tt.want[i] {
					t.Errorf("event %d: got %+v, want %+v", i, got, tt.want[i])
				}
				if !uuidRE.MatchString(e.JTI) || !uuidRE.MatchString(e.TXN) || seen[e.JTI] {
					t.Errorf("jti %q / txn %q: want fresh random UUIDs", e.JTI, e.TXN)
				}
				seen[e.JTI] = true
				for _, d := range e.Deliveries {
					if d.State != DeliveryPending || d.Kind != "original" || d.Attempts != 0 {
						t.Errorf("delivery %+v, want a pending original", d)
					}
					n++
				}
			}
			if n != tt.deliveries {
				t.Errorf("%d deliveries queued, want %d", n, tt.deliveries)
			}
		})
	}

	t.Run("LinkedAccountUpdate", func(t *testing.T) {
		authorisedConsent(t, s, "aac-c1-b", "c1", now)
		before := len(eventsOf(t, s, "c1"))
		if err := s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE accounts SET status = 'Enabled' WHERE account_id = 'acc-1'")
			if err == nil {
				_, err = tx.ExecContext(ctx, "UPDATE accounts SET status = 'Deleted' WHERE account_id = 'acc-1'")
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		evs := eventsOf(t, s, "c1")
		if len(evs) != before+2 {
			t.Fatalf("%d new events, want 2", len(evs)-before)
		}
		for i, reason := range []string{"UK.OBIE.AccountClosure", ""} {
			if e := evs[i]; e.Type != typeLinked || e.RID != "aac-c1-b" || e.Reason != reason {
				t.Errorf("event %d: %s %s reason %q, want linked-account-update of aac-c1-b with reason %q", i, e.Type, e.RID, e.Reason, reason)
			}
		}
	})
}

// TestDeliveryLifecycle: a claim counts the attempt and leases the delivery
// until its retry time; a released claim is as if never made; a success
// acknowledges the event for polling; polling acknowledgements cancel pushes.
func TestDeliveryLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := eventsFixture(t)
	authorisedConsent(t, s, "aac-1", "c1", now)
	authorisedConsent(t, s, "aac-2", "c1", now)
	lease := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	claim := func(at time.Time) (Delivery, bool) {
		t.Helper()
		d, ok, err := s.ClaimDelivery(ctx, "c1", at, lease)
		if err != nil {
			t.Fatal(err)
		}
		return d, ok
	}
	if _, ok := claim(now); ok {
		t.Fatal("claimed a delivery whose event is not signed yet")
	}
	for _, e := range eventsOf(t, s, "c1") {
		if err := s.SignEvent(ctx, e.Ref, "set-"+e.RID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SignEvent(ctx, e.Ref, "another", now); err != nil {
			t.Fatal(err)
		}
	}
	d1, ok := claim(now)
	if !ok || d1.SET != "set-aac-1" || d1.Attempts != 1 || !d1.NextAttemptAt.Equal(now.Add(time.Minute)) || d1.CallbackURL == "" {
		t.Fatalf("first claim %+v, want aac-1's first attempt leased for a minute", d1)
	}
	d2, ok := claim(now)
	if !ok || d2.SET != "set-aac-2" {
		t.Fatalf("second claim %+v, want aac-2 (aac-1 is leased)", d2)
	}
	if _, ok := claim(now); ok {
		t.Fatal("a third claim found something")
	}
	if err := s.ReleaseClaim(ctx, d2.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, d1.ID, Outcome{Status: 503, Error: "down", At: now}); err != nil {
		t.Fatal(err)
	}
	d2b, ok := claim(now)
	if !ok || d2b.ID != d2.ID || d2b.Attempts != 1 {
		t.Fatalf("after release: %+v, want aac-2 again with its attempt not counted", d2b)
	}
	if err := s.FinishDelivery(ctx, d2b.ID, Outcome{OK: true, Status: 202, At: now}); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(now.Add(59 * time.Second)); ok {
		t.Fatal("aac-1 was retried before its lease ran out")
	}
	evs, more, err := s.PollEvents(ctx, Poll{ClientID: "c1", Max: 10, Now: now})
	if err != nil || more || len(evs) != 1 || evs[0].RID != "aac-1" {
		t.Fatalf("poll: %v %v %+v; want only aac-1 (aac-2 was acknowledged by its push)", err, more, evs)
	}
	// c3 cannot acknowledge c1's event; c1 can, and its push stops.
	if _, _, err := s.PollEvents(ctx, Poll{ClientID: "c3", Ack: []string{evs[0].JTI}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := s.PollEvents(ctx, Poll{ClientID: "c1", Max: 10, Now: now}); len(evs) != 1 {
		t.Fatal("another client's ack acknowledged the event")
	}
	if _, _, err := s.PollEvents(ctx, Poll{ClientID: "c1", Ack: []string{evs[0].JTI}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(now.Add(time.Hour)); ok {
		t.Fatal("an event acknowledged by polling was still pushed")
	}
	e, err := s.EventByJTI(ctx, evs[0].JTI)
	if err != nil || e.AckedBy != "poll" || e.Deliveries[0].State != DeliveryCancelled || e.Deliveries[0].LastStatus != 503 {
		t.Fatalf("%v %+v: want acked by poll, its delivery cancelled after one 503", err, e)
	}
}

// TestCopiedEventsQueueNothing: outbox rows copied as they are (a
// snapshot's restore: INSERT ... SELECT *) bring their deliveries with them
// and make no new ones; only a new event queues a push.
func TestCopiedEventsQueueNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := eventsFixture(t)
	authorisedConsent(t, s, "aac-1", "c1", now)
	count := func() (n int) {
		t.Helper()
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM event_deliveries").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatalf("%d deliveries, want 1", count())
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			"CREATE TEMP TABLE copy AS SELECT * FROM event_outbox",
			"DELETE FROM event_deliveries",
			"DELETE FROM event_outbox",
			"INSERT INTO event_outbox SELECT * FROM copy",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("copying the outbox queued %d pushes", n)
	}
	e := Event{JTI: "jti-new", TXN: "txn", ClientID: "c1", Type: typeUpdate, Family: EventConsent, Kind: bank.ConsentAccountAccess, RID: "aac-1"}
	if err := s.AddEvent(ctx, &e, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("a new event queued %d pushes, want 1", n)
	}
}
