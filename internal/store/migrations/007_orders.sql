-- Scheduled payments and standing orders made through PIS run on the
-- sandbox clock; the bank's records of them (what AIS shows) point back to
-- their payment order. Generated ones (payment_id '') are history only.
ALTER TABLE standing_orders ADD COLUMN payment_id TEXT NOT NULL DEFAULT '';
ALTER TABLE standing_orders ADD COLUMN first_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN final_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE standing_orders ADD COLUMN remaining INTEGER NOT NULL DEFAULT -1;  -- payments left; -1 open-ended
ALTER TABLE standing_orders ADD COLUMN made INTEGER NOT NULL DEFAULT 0;        -- payments made
CREATE INDEX standing_orders_due ON standing_orders(next_at) WHERE payment_id <> '';
ALTER TABLE scheduled_payments ADD COLUMN payment_id TEXT NOT NULL DEFAULT '';

CREATE TABLE funds_confirmations (
  id            INTEGER PRIMARY KEY,
  confirmation_id TEXT NOT NULL UNIQUE,
  consent_id    TEXT NOT NULL,
  reference     TEXT NOT NULL,
  amount        INTEGER NOT NULL,
  currency      TEXT NOT NULL,
  available     INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  UNIQUE (consent_id, reference)
);
