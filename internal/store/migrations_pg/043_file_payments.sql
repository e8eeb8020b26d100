-- File payments: the PostgreSQL twin of migrations/043_file_payments.sql (the
-- uploaded file and its instructions with their outcomes; due_at learns the
-- kind 'file'; dropping it drops its index).
CREATE TABLE payment_files (
  consent_id  TEXT PRIMARY KEY,
  file_type   TEXT NOT NULL,
  media_type  TEXT NOT NULL,
  content     TEXT NOT NULL,
  uploaded_at BIGINT NOT NULL
);
CREATE TABLE file_instructions (
  consent_id  TEXT NOT NULL,
  seq         BIGINT NOT NULL,
  instruction TEXT NOT NULL,            -- JSON: the bank's Initiation
  status      TEXT NOT NULL DEFAULT '', -- '' until executed; InitiationCompleted | InitiationFailed
  reason      TEXT NOT NULL DEFAULT '',
  tx          BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (consent_id, seq)
);
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind IN ('domestic-scheduled', 'international-scheduled', 'file') AND status = 'InitiationPending' THEN settle_at
END) STORED;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;
