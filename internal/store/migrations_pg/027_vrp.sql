-- Variable recurring payments: the PostgreSQL twin of migrations/027_vrp.sql
-- (due_at learns the kind 'domestic-vrp'; dropping it drops its index).
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind = 'domestic-scheduled' AND status = 'InitiationPending' THEN settle_at
END) STORED;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;
