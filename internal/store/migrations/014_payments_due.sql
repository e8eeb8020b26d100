-- When the sandbox clock next owes a payment order something (CatchUp): a
-- domestic payment's processing or settlement time while it is Pending or
-- AcceptedSettlementInProcess, a scheduled payment's date while it is
-- InitiationPending; NULL otherwise (and for a payment stuck in Pending by
-- its scenario). Indexed, so finding the next due order reads the due ones
-- only, not every open order.

ALTER TABLE payments ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind = 'domestic' AND status = 'Pending' THEN process_at
  WHEN kind = 'domestic' AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind = 'domestic-scheduled' AND status = 'InitiationPending' THEN settle_at
END) VIRTUAL;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;
