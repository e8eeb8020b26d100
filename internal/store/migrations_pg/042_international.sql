-- International payments: the PostgreSQL twin of migrations/042_international.sql
-- (the creditor's amount and currency and the rate applied; due_at learns
-- the international kinds; dropping it drops its index).
ALTER TABLE payments ADD COLUMN credit_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN credit_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN fx TEXT NOT NULL DEFAULT '';
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind IN ('domestic-scheduled', 'international-scheduled') AND status = 'InitiationPending' THEN settle_at
END) STORED;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;

ALTER TABLE standing_orders ADD COLUMN credit_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE standing_orders ADD COLUMN credit_first BIGINT NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN credit_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN credit_final BIGINT NOT NULL DEFAULT 0;
