-- Variable recurring payments (kind 'domestic-vrp') settle on the sandbox
-- clock as domestic payments do: Pending, AcceptedSettlementInProcess,
-- AcceptedSettlementCompleted. due_at (014) learns the kind; its index is
-- rebuilt with it. A VRP consent's payments are read by consent when its
-- limits are counted (payments_by_consent, 005).
DROP INDEX payments_due;
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind = 'domestic-scheduled' AND status = 'InitiationPending' THEN settle_at
END) VIRTUAL;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;
