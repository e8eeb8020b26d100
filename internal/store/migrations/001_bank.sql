-- The bank: PSUs, parties, accounts and everything AIS reads. Written by the
-- seed generator and by the payments engine, read by the AIS handlers.
-- Times are unix seconds (UTC); money is signed integer minor units.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE parties (
  id         INTEGER PRIMARY KEY,
  party_id   TEXT NOT NULL UNIQUE,
  number     TEXT NOT NULL,
  type       TEXT NOT NULL,            -- Sole | Joint | Delegate
  name       TEXT NOT NULL,
  legal_name TEXT NOT NULL,
  email      TEXT NOT NULL,
  phone      TEXT NOT NULL,
  mobile     TEXT NOT NULL,
  business   INTEGER NOT NULL,
  address    TEXT NOT NULL             -- JSON bank.Address
);

CREATE TABLE psus (
  id       INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password TEXT NOT NULL,              -- a test credential, listed by GET /sandbox/psus
  party    INTEGER NOT NULL REFERENCES parties(id),
  scenario TEXT NOT NULL DEFAULT ''
);

CREATE TABLE accounts (
  id              INTEGER PRIMARY KEY,
  account_id      TEXT NOT NULL UNIQUE,
  psu             INTEGER NOT NULL REFERENCES psus(id),
  currency        TEXT NOT NULL,
  type            TEXT NOT NULL,
  sub_type        TEXT NOT NULL,
  nickname        TEXT NOT NULL,
  description     TEXT NOT NULL,
  status          TEXT NOT NULL,
  opened_at       INTEGER NOT NULL,
  holder_name     TEXT NOT NULL,
  sort_code       TEXT NOT NULL,
  number          TEXT NOT NULL,
  iban            TEXT NOT NULL,
  pan             TEXT NOT NULL,
  bic             TEXT NOT NULL,
  card_pan        TEXT NOT NULL,       -- the card that pays from this account
  card_scheme     TEXT NOT NULL,
  credit_limit    INTEGER NOT NULL,
  product_id      TEXT NOT NULL,
  opening_balance INTEGER NOT NULL,    -- balance before the first entry
  booked          INTEGER NOT NULL,    -- opening_balance + every booked entry
  pending_debits  INTEGER NOT NULL,    -- positive sum of pending money out
  pending_credits INTEGER NOT NULL     -- positive sum of pending money in
);
CREATE INDEX accounts_by_psu ON accounts(psu);
CREATE INDEX accounts_by_sort_code ON accounts(sort_code, number) WHERE sort_code <> '';
CREATE INDEX accounts_by_iban ON accounts(iban) WHERE iban <> '';

CREATE TABLE account_parties (
  account INTEGER NOT NULL REFERENCES accounts(id),
  party   INTEGER NOT NULL REFERENCES parties(id),
  role    TEXT NOT NULL,               -- OBExternalAccountRole1Code
  PRIMARY KEY (account, party)
) WITHOUT ROWID;

-- Bank transaction codes, shared by many entries.
CREATE TABLE tx_kinds (
  id               INTEGER PRIMARY KEY,
  code             TEXT NOT NULL,
  sub_code         TEXT NOT NULL,
  proprietary_code TEXT NOT NULL,
  UNIQUE (code, sub_code, proprietary_code)
);

-- Counterparties (merchants and account holders), shared by many entries.
CREATE TABLE counterparties (
  id             INTEGER PRIMARY KEY,
  name           TEXT NOT NULL,
  mcc            TEXT NOT NULL,        -- merchant category code; '' for account holders
  scheme         TEXT NOT NULL,        -- '' for merchants
  identification TEXT NOT NULL,
  UNIQUE (name, mcc, scheme, identification)
);

CREATE TABLE transactions (
  id           INTEGER PRIMARY KEY,    -- TransactionId is derived from it
  account      INTEGER NOT NULL,       -- accounts.id
  booked_at    INTEGER NOT NULL,
  value_at     INTEGER,                -- NULL: same as booked_at
  status       INTEGER NOT NULL,       -- 0 Booked, 1 Pending, 2 Rejected
  amount       INTEGER NOT NULL,       -- signed: > 0 money in
  balance      INTEGER,                -- booked balance after this entry; NULL unless booked
  kind         INTEGER NOT NULL,       -- tx_kinds.id
  counterparty INTEGER,                -- counterparties.id
  card_auth    INTEGER NOT NULL,       -- 0 not a card entry, 1 Contactless, 2 PIN, 3 ConsumerDevice, 4 None
  reference    TEXT NOT NULL,
  info         TEXT NOT NULL
);
-- The transactions index is created by CreateIndexes after a bulk load.

CREATE TABLE beneficiaries (
  id          INTEGER PRIMARY KEY,
  beneficiary_id TEXT NOT NULL UNIQUE,
  account     INTEGER NOT NULL,
  type        TEXT NOT NULL,
  reference   TEXT NOT NULL,
  scheme      TEXT NOT NULL,
  identification TEXT NOT NULL,
  name        TEXT NOT NULL
);
CREATE INDEX beneficiaries_by_account ON beneficiaries(account);

CREATE TABLE direct_debits (
  id            INTEGER PRIMARY KEY,
  direct_debit_id TEXT NOT NULL UNIQUE,
  account       INTEGER NOT NULL,
  mandate       TEXT NOT NULL,
  name          TEXT NOT NULL,
  status        TEXT NOT NULL,
  frequency     TEXT NOT NULL,
  previous_at   INTEGER NOT NULL,
  previous_paid INTEGER NOT NULL
);
CREATE INDEX direct_debits_by_account ON direct_debits(account);

CREATE TABLE standing_orders (
  id             INTEGER PRIMARY KEY,
  standing_order_id TEXT NOT NULL UNIQUE,
  account        INTEGER NOT NULL,
  frequency      TEXT NOT NULL,
  reference      TEXT NOT NULL,
  status         TEXT NOT NULL,
  amount         INTEGER NOT NULL,
  first_at       INTEGER NOT NULL,
  next_at        INTEGER NOT NULL,     -- 0: none due
  last_at        INTEGER NOT NULL,     -- 0: none made
  final_at       INTEGER NOT NULL,     -- 0: open-ended
  scheme         TEXT NOT NULL,
  identification TEXT NOT NULL,
  name           TEXT NOT NULL
);
CREATE INDEX standing_orders_by_account ON standing_orders(account);

CREATE TABLE scheduled_payments (
  id             INTEGER PRIMARY KEY,
  scheduled_payment_id TEXT NOT NULL UNIQUE,
  account        INTEGER NOT NULL,
  at             INTEGER NOT NULL,
  type           TEXT NOT NULL,
  reference      TEXT NOT NULL,
  amount         INTEGER NOT NULL,
  scheme         TEXT NOT NULL,
  identification TEXT NOT NULL,
  name           TEXT NOT NULL
);
CREATE INDEX scheduled_payments_by_account ON scheduled_payments(account);

CREATE TABLE statements (
  id           INTEGER PRIMARY KEY,
  statement_id TEXT NOT NULL UNIQUE,
  account      INTEGER NOT NULL,
  reference    TEXT NOT NULL,
  type         TEXT NOT NULL,
  start_at     INTEGER NOT NULL,
  end_at       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  opening      INTEGER NOT NULL,
  closing      INTEGER NOT NULL,
  credits      INTEGER NOT NULL,
  debits       INTEGER NOT NULL,
  description  TEXT NOT NULL
);
CREATE INDEX statements_by_account ON statements(account, start_at);

CREATE TABLE products (
  account      INTEGER PRIMARY KEY,
  product_id   TEXT NOT NULL,
  name         TEXT NOT NULL,
  type         TEXT NOT NULL,
  other_name   TEXT NOT NULL,
  other_desc   TEXT NOT NULL,
  marketing_id TEXT NOT NULL
);

CREATE TABLE offers (
  id          INTEGER PRIMARY KEY,
  offer_id    TEXT NOT NULL UNIQUE,
  account     INTEGER NOT NULL,
  type        TEXT NOT NULL,
  description TEXT NOT NULL,
  start_at    INTEGER NOT NULL,
  end_at      INTEGER NOT NULL,
  rate        TEXT NOT NULL,
  amount      INTEGER NOT NULL,
  fee         INTEGER NOT NULL,
  url         TEXT NOT NULL
);
CREATE INDEX offers_by_account ON offers(account);
