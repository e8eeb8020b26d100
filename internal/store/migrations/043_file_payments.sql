-- File payments: the file a TPP uploads against a file-payment consent
-- (kept as sent, for GET .../file) and its instructions, each executed as its
-- own ledger entry (tx, the transactions.id of its debit) with its outcome
-- for the report file. due_at (042) learns the kind 'file': a file payment
-- with a RequestedExecutionDateTime ahead executes at that date.
CREATE TABLE payment_files (
  consent_id  TEXT PRIMARY KEY,
  file_type   TEXT NOT NULL,
  media_type  TEXT NOT NULL,
  content     TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL
);
CREATE TABLE file_instructions (
  consent_id  TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  instruction TEXT NOT NULL,            -- JSON: the bank's Initiation
  status      TEXT NOT NULL DEFAULT '', -- '' until executed; InitiationCompleted | InitiationFailed
  reason      TEXT NOT NULL DEFAULT '',
  tx          INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (consent_id, seq)
);
DROP INDEX payments_due;
ALTER TABLE payments DROP COLUMN due_at;
ALTER TABLE payments ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
  WHEN outcome = 'stuck-pending' THEN NULL
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'Pending' THEN process_at
  WHEN kind IN ('domestic', 'domestic-vrp', 'international') AND status = 'AcceptedSettlementInProcess' THEN settle_at
  WHEN kind IN ('domestic-scheduled', 'international-scheduled', 'file') AND status = 'InitiationPending' THEN settle_at
END) VIRTUAL;
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;
