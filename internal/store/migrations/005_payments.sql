-- Payment orders and the idempotency keys of every idempotent POST.

CREATE TABLE payments (
  id          INTEGER PRIMARY KEY,
  payment_id  TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL,           -- domestic | domestic-scheduled | domestic-standing-order
  consent_id  TEXT NOT NULL,
  client_id   TEXT NOT NULL,
  status      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  status_at   INTEGER NOT NULL,
  account     INTEGER NOT NULL,        -- the debtor's accounts.id
  amount      INTEGER NOT NULL,        -- positive minor units
  currency    TEXT NOT NULL,
  tx          INTEGER NOT NULL DEFAULT 0, -- transactions.id of its debit; 0 when none
  process_at  INTEGER NOT NULL DEFAULT 0,
  settle_at   INTEGER NOT NULL DEFAULT 0,
  reason      TEXT NOT NULL DEFAULT '',
  request     TEXT NOT NULL,           -- JSON: the order's Data as the TPP sent it
  history     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX payments_open ON payments(settle_at) WHERE status IN ('Pending', 'AcceptedSettlementInProcess');
CREATE INDEX payments_by_consent ON payments(consent_id);

CREATE TABLE idempotency (
  client_id   TEXT NOT NULL,
  operation   TEXT NOT NULL,           -- e.g. domestic-payments
  key         TEXT NOT NULL,
  body_hash   TEXT NOT NULL,           -- sha256 of the body as canonical JSON
  resource_id TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (client_id, operation, key)
) WITHOUT ROWID;
