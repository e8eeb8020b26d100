package store

import (
	"context"
	"database/sql"
	"fmt"
)

// CheckLedgers verifies the ledger invariants of every account and returns
// one line per breach (at most limit): the booked balance equals the opening
// balance plus every booked entry; the pending sums equal the pending
// entries; and each booked entry's running balance equals the opening
// balance plus every booked entry up to it, in booking order.
func (s *Store) CheckLedgers(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT a.account_id, a.booked, a.pending_debits, a.pending_credits,
			a.opening_balance + coalesce(sum(t.amount) FILTER (WHERE t.status = 0), 0),
			coalesce(-sum(t.amount) FILTER (WHERE t.status = 1 AND t.amount < 0), 0),
			coalesce(sum(t.amount) FILTER (WHERE t.status = 1 AND t.amount > 0), 0)
			FROM accounts a LEFT JOIN transactions t ON t.account = a.id GROUP BY a.id ORDER BY a.id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var booked, pd, pc, wantBooked, wantPD, wantPC int64
			if err := rows.Scan(&id, &booked, &pd, &pc, &wantBooked, &wantPD, &wantPC); err != nil {
				rows.Close()
				return err
			}
			if booked != wantBooked || pd != wantPD || pc != wantPC {
				out = append(out, fmt.Sprintf("account %s: booked %d (entries say %d), pending debits %d (%d), pending credits %d (%d)",
					id, booked, wantBooked, pd, wantPD, pc, wantPC))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT a.account_id, t.id, t.balance, a.opening_balance +
			sum(t.amount) OVER (PARTITION BY t.account ORDER BY t.booked_at, t.id ROWS UNBOUNDED PRECEDING)
			FROM transactions t JOIN accounts a ON a.id = t.account WHERE t.status = 0`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() && len(out) < limit {
			var id string
			var tid int64
			var bal sql.NullInt64
			var run int64
			if err := rows.Scan(&id, &tid, &bal, &run); err != nil {
				return err
			}
			if !bal.Valid || bal.Int64 != run {
				out = append(out, fmt.Sprintf("account %s: transaction %s has running balance %v, entries say %d", id, TransactionID(tid), bal.Int64, run))
			}
		}
		return rows.Err()
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}
