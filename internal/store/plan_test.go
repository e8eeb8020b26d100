package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// The seeded bank's queries plans are also what cmd bench's scale curve
// measures (10k to 10M entries).

// TestHotQueryPlans asserts with EXPLAIN QUERY PLAN that the queries on a
// request's path are index searches: no table scan and no sort in a
// temporary b-tree, however large the bank (issue 7: indexes, not scans).
func TestHotQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(context.Background(), func(*Loader) error { return nil }); err != nil {
		t.Fatal(err) // builds the indexes Load makes after a bulk load
	}
	// Without ANALYZE statistics the planner weighs the table's size: give
	// it a bank-sized one (50 accounts x 2,000 entries).
	if _, err := s.w.Exec(`INSERT INTO tx_kinds(code, sub_code, proprietary_code) VALUES('ReceivedCreditTransfers', 'DomesticCreditTransfer', 'FPI')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO transactions(account, booked_at, status, amount, kind, card_auth, reference, info)
		SELECT i % 50, 1700000000 + i * 600, i % 97 = 0, (i % 7) - 3, 1, 0, '', '' FROM n`); err != nil {
		t.Fatal(err)
	}
	two := []bank.Account{{Ref: 1}, {Ref: 2}}
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	oneCount, oneCountArgs, onePage, onePageArgs := txQueries(bank.TxQuery{Accounts: two[:1], From: from, Direction: bank.DirectionDebits, Limit: 50})
	twoCount, twoCountArgs, twoPage, twoPageArgs := txQueries(bank.TxQuery{Accounts: two, From: from, To: from.AddDate(0, 1, 0), Direction: bank.DirectionBoth, Limit: 50, Offset: 100})
	for _, tc := range []struct {
		name, query string
		args        []any
	}{
		{"transactions_page", onePage, onePageArgs},
		{"transactions_page_two_accounts", twoPage, twoPageArgs},
		{"transactions_count", oneCount, oneCountArgs},
		{"transactions_count_two_accounts", twoCount, twoCountArgs},
		{"transactions_first_last", `SELECT (SELECT min(booked_at) FROM transactions WHERE account = 1), (SELECT max(booked_at) FROM transactions WHERE account = 1)`, nil},
		{"token", "SELECT " + tokenCols + " FROM tokens WHERE jti = 'x'", nil},
		{"client_of_software", softwareQuery(false), []any{`{"software_id":"s"}`, "c"}},
		{"client_suspended", "SELECT suspended FROM clients WHERE client_id = 'x'", nil},
		{"consent", "SELECT " + consentCols + " FROM consents WHERE consent_id = 'x'", nil},
		{"accounts_of_consent", "SELECT " + accountCols + " FROM accounts a JOIN psus p ON p.id = a.psu WHERE p.username = 'alice' AND a.account_id IN ('a','b') ORDER BY a.id", nil},
		{"pending_cards_due", `SELECT (booked_at + 1) * 1000, id FROM transactions WHERE status = 1 AND card_auth <> 0 AND booked_at <= 5 ORDER BY booked_at, id LIMIT 1`, nil},
		{"payment_due", "SELECT due_at, id FROM payments WHERE due_at <= 5 AND kind IN ('domestic', 'domestic-vrp') ORDER BY due_at, id LIMIT 1", nil},
		{"standing_order_due", "SELECT next_at * 1000, id FROM standing_orders WHERE payment_id <> '' AND status = 'Active' AND next_at <> 0 AND next_at <= 5 ORDER BY next_at, id LIMIT 1", nil},
		{"idempotency", "SELECT body_hash, resource_id, created_at FROM idempotency WHERE client_id = 'c' AND operation = 'o' AND key = 'k'", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notUsed int
				var detail string
				if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			for _, step := range plan {
				// Several accounts' entries are merged: each account's
				// bounded share (offset+limit rows) is sorted and read back;
				// one account's come in index order.
				merged := strings.HasSuffix(tc.name, "two_accounts")
				sorted := strings.Contains(step, "TEMP B-TREE") && !merged
				scan := strings.HasPrefix(step, "SCAN ") && step != "SCAN CONSTANT ROW" && !(merged && strings.HasPrefix(step, "SCAN page"))
				if scan || sorted {
					t.Errorf("plan step %q\nwhole plan: %q", step, plan)
				}
			}
			if len(plan) == 0 {
				t.Error("no plan")
			}
		})
	}
}
