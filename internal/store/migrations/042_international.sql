-- International payments (kinds 'international', 'international-scheduled',
-- 'international-standing-order'): the debtor is debited amount in its
-- account's currency; the creditor receives credit_amount in
-- credit_currency (the currency of transfer; '' for a payment in one
-- currency, whose creditor receives amount); fx is the rate applied (JSON,
-- '' when none was). due_at (027) learns the kinds: an international
-- payment settles as a domestic one does, an international scheduled
-- payment executes at its date.
ALTER TABLE payments ADD COLUMN credit_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN credit_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN fx TEXT NOT NULL DEFAULT '';
DROP INDEX payments_due;
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind IN ('domestic-scheduled', 'international-scheduled') AND status = 'InitiationPending' THEN settle_at
END) VIRTUAL;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;

-- A standing order's creditor receives in the currency of transfer: the
-- amounts (first, recurring, final) converted at the order's rate; '' and
-- zeros for a standing order in one currency.
ALTER TABLE standing_orders ADD COLUMN credit_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE standing_orders ADD COLUMN credit_first INTEGER NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN credit_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN credit_final INTEGER NOT NULL DEFAULT 0;
