-- The sandbox's schema on PostgreSQL: the SQLite schema as migrations
-- 001-021 leave it, in one step. A PostgreSQL migration carries the number
-- of the SQLite migration whose schema it reaches, so both backends report
-- the same schema version. Columns keep SQLite's order (some inserts are
-- positional) and types: integers are BIGINT (SQLite's are 64-bit), flags
-- are integers, blobs BYTEA. Row ids are BIGSERIAL; a bulk load that sets
-- them itself moves the sequences on after (see store.syncSequences).
-- Times are as in SQLite: unix seconds, or milliseconds where noted there.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE parties (
  id         BIGSERIAL PRIMARY KEY,
  party_id   TEXT NOT NULL UNIQUE,
  number     TEXT NOT NULL,
  type       TEXT NOT NULL,
  name       TEXT NOT NULL,
  legal_name TEXT NOT NULL,
  email      TEXT NOT NULL,
  phone      TEXT NOT NULL,
  mobile     TEXT NOT NULL,
  business   BIGINT NOT NULL,
  address    TEXT NOT NULL
);

CREATE TABLE psus (
  id       BIGSERIAL PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password TEXT NOT NULL,
  party    BIGINT NOT NULL REFERENCES parties(id) DEFERRABLE INITIALLY DEFERRED,
  scenario TEXT NOT NULL DEFAULT ''
);

CREATE TABLE accounts (
  id              BIGSERIAL PRIMARY KEY,
  account_id      TEXT NOT NULL UNIQUE,
  psu             BIGINT NOT NULL REFERENCES psus(id) DEFERRABLE INITIALLY DEFERRED,
  currency        TEXT NOT NULL,
  type            TEXT NOT NULL,
  sub_type        TEXT NOT NULL,
  nickname        TEXT NOT NULL,
  description     TEXT NOT NULL,
  status          TEXT NOT NULL,
  opened_at       BIGINT NOT NULL,
  holder_name     TEXT NOT NULL,
  sort_code       TEXT NOT NULL,
  number          TEXT NOT NULL,
  iban            TEXT NOT NULL,
  pan             TEXT NOT NULL,
  bic             TEXT NOT NULL,
  card_pan        TEXT NOT NULL,
  card_scheme     TEXT NOT NULL,
  credit_limit    BIGINT NOT NULL,
  product_id      TEXT NOT NULL,
  opening_balance BIGINT NOT NULL,
  booked          BIGINT NOT NULL,
  pending_debits  BIGINT NOT NULL,
  pending_credits BIGINT NOT NULL
);
CREATE INDEX accounts_by_psu ON accounts(psu);
CREATE INDEX accounts_by_sort_code ON accounts(sort_code, number) WHERE sort_code <> '';
CREATE INDEX accounts_by_iban ON accounts(iban) WHERE iban <> '';

CREATE TABLE account_parties (
  account BIGINT NOT NULL REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  party   BIGINT NOT NULL REFERENCES parties(id) DEFERRABLE INITIALLY DEFERRED,
  role    TEXT NOT NULL,
  PRIMARY KEY (account, party)
);

CREATE TABLE tx_kinds (
  id               BIGSERIAL PRIMARY KEY,
  code             TEXT NOT NULL,
  sub_code         TEXT NOT NULL,
  proprietary_code TEXT NOT NULL,
  UNIQUE (code, sub_code, proprietary_code)
);

CREATE TABLE counterparties (
  id             BIGSERIAL PRIMARY KEY,
  name           TEXT NOT NULL,
  mcc            TEXT NOT NULL,
  scheme         TEXT NOT NULL,
  identification TEXT NOT NULL,
  UNIQUE (name, mcc, scheme, identification)
);

CREATE TABLE transactions (
  id           BIGSERIAL PRIMARY KEY,
  account      BIGINT NOT NULL,
  booked_at    BIGINT NOT NULL,
  value_at     BIGINT,
  status       BIGINT NOT NULL,
  amount       BIGINT NOT NULL,
  balance      BIGINT,
  kind         BIGINT NOT NULL,
  counterparty BIGINT,
  card_auth    BIGINT NOT NULL,
  reference    TEXT NOT NULL,
  info         TEXT NOT NULL
);
-- transactions_by_account and transactions_pending_cards are built by Load.
CREATE INDEX transactions_by_account ON transactions(account, booked_at, id);
CREATE INDEX transactions_pending_cards ON transactions(booked_at) WHERE status = 1 AND card_auth <> 0;

CREATE TABLE beneficiaries (
  id          BIGSERIAL PRIMARY KEY,
  beneficiary_id TEXT NOT NULL UNIQUE,
  account     BIGINT NOT NULL,
  type        TEXT NOT NULL,
  reference   TEXT NOT NULL,
  scheme      TEXT NOT NULL,
  identification TEXT NOT NULL,
  name        TEXT NOT NULL
);
CREATE INDEX beneficiaries_by_account ON beneficiaries(account);

CREATE TABLE direct_debits (
  id            BIGSERIAL PRIMARY KEY,
  direct_debit_id TEXT NOT NULL UNIQUE,
  account       BIGINT NOT NULL,
  mandate       TEXT NOT NULL,
  name          TEXT NOT NULL,
  status        TEXT NOT NULL,
  frequency     TEXT NOT NULL,
  previous_at   BIGINT NOT NULL,
  previous_paid BIGINT NOT NULL
);
CREATE INDEX direct_debits_by_account ON direct_debits(account);

CREATE TABLE standing_orders (
  id             BIGSERIAL PRIMARY KEY,
  standing_order_id TEXT NOT NULL UNIQUE,
  account        BIGINT NOT NULL,
  frequency      TEXT NOT NULL,
  reference      TEXT NOT NULL,
  status         TEXT NOT NULL,
  amount         BIGINT NOT NULL,
  first_at       BIGINT NOT NULL,
  next_at        BIGINT NOT NULL,
  last_at        BIGINT NOT NULL,
  final_at       BIGINT NOT NULL,
  scheme         TEXT NOT NULL,
  identification TEXT NOT NULL,
  name           TEXT NOT NULL,
  payment_id     TEXT NOT NULL DEFAULT '',
  first_amount   BIGINT NOT NULL DEFAULT 0,
  final_amount   BIGINT NOT NULL DEFAULT 0,
  remaining      BIGINT NOT NULL DEFAULT -1,
  made           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX standing_orders_by_account ON standing_orders(account);
CREATE INDEX standing_orders_due ON standing_orders(next_at) WHERE payment_id <> '';

CREATE TABLE scheduled_payments (
  id             BIGSERIAL PRIMARY KEY,
  scheduled_payment_id TEXT NOT NULL UNIQUE,
  account        BIGINT NOT NULL,
  at             BIGINT NOT NULL,
  type           TEXT NOT NULL,
  reference      TEXT NOT NULL,
  amount         BIGINT NOT NULL,
  scheme         TEXT NOT NULL,
  identification TEXT NOT NULL,
  name           TEXT NOT NULL,
  payment_id     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX scheduled_payments_by_account ON scheduled_payments(account);

CREATE TABLE statements (
  id           BIGSERIAL PRIMARY KEY,
  statement_id TEXT NOT NULL UNIQUE,
  account      BIGINT NOT NULL,
  reference    TEXT NOT NULL,
  type         TEXT NOT NULL,
  start_at     BIGINT NOT NULL,
  end_at       BIGINT NOT NULL,
  created_at   BIGINT NOT NULL,
  opening      BIGINT NOT NULL,
  closing      BIGINT NOT NULL,
  credits      BIGINT NOT NULL,
  debits       BIGINT NOT NULL,
  description  TEXT NOT NULL
);
CREATE INDEX statements_by_account ON statements(account, start_at);

CREATE TABLE products (
  account      BIGINT PRIMARY KEY,
  product_id   TEXT NOT NULL,
  name         TEXT NOT NULL,
  type         TEXT NOT NULL,
  other_name   TEXT NOT NULL,
  other_desc   TEXT NOT NULL,
  marketing_id TEXT NOT NULL
);

CREATE TABLE offers (
  id          BIGSERIAL PRIMARY KEY,
  offer_id    TEXT NOT NULL UNIQUE,
  account     BIGINT NOT NULL,
  type        TEXT NOT NULL,
  description TEXT NOT NULL,
  start_at    BIGINT NOT NULL,
  end_at      BIGINT NOT NULL,
  rate        TEXT NOT NULL,
  amount      BIGINT NOT NULL,
  fee         BIGINT NOT NULL,
  url         TEXT NOT NULL
);
CREATE INDEX offers_by_account ON offers(account);

CREATE TABLE signing_keys (
  kid         TEXT PRIMARY KEY,
  alg         TEXT NOT NULL,
  private_der BYTEA NOT NULL,
  created_at  BIGINT NOT NULL,
  retired_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE clients (
  client_id        TEXT PRIMARY KEY,
  metadata         TEXT NOT NULL,
  secret_hash      TEXT NOT NULL,
  secret           TEXT NOT NULL,
  registration_hash TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  suspended        TEXT NOT NULL DEFAULT ''
);

CREATE TABLE consents (
  id           BIGSERIAL PRIMARY KEY,
  consent_id   TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL,
  client_id    TEXT NOT NULL,
  status       TEXT NOT NULL,
  psu          TEXT NOT NULL DEFAULT '',
  created_at   BIGINT NOT NULL,
  status_at    BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL DEFAULT 0,
  tx_from      BIGINT NOT NULL DEFAULT 0,
  tx_to        BIGINT NOT NULL DEFAULT 0,
  permissions  BIGINT NOT NULL DEFAULT 0,
  accounts     TEXT NOT NULL DEFAULT '[]',
  request      TEXT NOT NULL DEFAULT '{}',
  deleted      BIGINT NOT NULL DEFAULT 0,
  psu_revoked  BIGINT NOT NULL DEFAULT 0,
  initiation   TEXT NOT NULL DEFAULT '',
  scenario     TEXT NOT NULL DEFAULT '',
  api_version  TEXT NOT NULL DEFAULT '3.1'
);
CREATE INDEX consents_by_client ON consents(client_id);
CREATE INDEX consents_by_psu ON consents(psu) WHERE psu <> '';

CREATE TABLE tokens (
  jti        TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  consent_id TEXT NOT NULL DEFAULT '',
  psu        TEXT NOT NULL DEFAULT '',
  scope      TEXT NOT NULL,
  grant_type TEXT NOT NULL,
  issued_at  BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  code       TEXT NOT NULL DEFAULT '',
  cnf        TEXT NOT NULL DEFAULT '',
  rotated_at BIGINT NOT NULL DEFAULT 0,
  auth_time  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_by_consent ON tokens(consent_id) WHERE consent_id <> '';
CREATE INDEX tokens_by_code ON tokens(code) WHERE code <> '';

CREATE TABLE auth_codes (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  consent_id     TEXT NOT NULL,
  psu            TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  issued_at      BIGINT NOT NULL,
  expires_at     BIGINT NOT NULL,
  used_at        BIGINT NOT NULL DEFAULT 0,
  reused_at      BIGINT NOT NULL DEFAULT 0,
  auth_time      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE par_requests (
  request_uri TEXT PRIMARY KEY,
  client_id   TEXT NOT NULL,
  params      TEXT NOT NULL,
  expires_at  BIGINT NOT NULL,
  used_at     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE used_jtis (
  client_id  TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (client_id, jti)
);

CREATE TABLE psu_logins (
  username     TEXT PRIMARY KEY,
  failures     BIGINT NOT NULL,
  locked_until BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE auth_requests (
  id         TEXT PRIMARY KEY,
  client_id  TEXT NOT NULL,
  params     TEXT NOT NULL,
  csrf       TEXT NOT NULL,
  psu        TEXT NOT NULL DEFAULT '',
  session    TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  done_at    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE psu_sessions (
  id_hash    TEXT PRIMARY KEY,
  username   TEXT NOT NULL,
  csrf       TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE payments (
  id          BIGSERIAL PRIMARY KEY,
  payment_id  TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL,
  consent_id  TEXT NOT NULL,
  client_id   TEXT NOT NULL,
  status      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  status_at   BIGINT NOT NULL,
  account     BIGINT NOT NULL,
  amount      BIGINT NOT NULL,
  currency    TEXT NOT NULL,
  tx          BIGINT NOT NULL DEFAULT 0,
  process_at  BIGINT NOT NULL DEFAULT 0,
  settle_at   BIGINT NOT NULL DEFAULT 0,
  reason      TEXT NOT NULL DEFAULT '',
  request     TEXT NOT NULL,
  history     TEXT NOT NULL DEFAULT '[]',
  outcome     TEXT NOT NULL DEFAULT '',
  due_at      BIGINT GENERATED ALWAYS AS (CASE
    WHEN outcome = 'stuck-pending' THEN NULL
    WHEN kind = 'domestic' AND status = 'Pending' THEN process_at
    WHEN kind = 'domestic' AND status = 'AcceptedSettlementInProcess' THEN settle_at
    WHEN kind = 'domestic-scheduled' AND status = 'InitiationPending' THEN settle_at
  END) STORED
);
CREATE INDEX payments_by_consent ON payments(consent_id);
CREATE INDEX payments_due ON payments(due_at, id) WHERE due_at IS NOT NULL;

CREATE TABLE idempotency (
  client_id   TEXT NOT NULL,
  operation   TEXT NOT NULL,
  key         TEXT NOT NULL,
  body_hash   TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (client_id, operation, key)
);

CREATE TABLE funds_confirmations (
  id            BIGSERIAL PRIMARY KEY,
  confirmation_id TEXT NOT NULL UNIQUE,
  consent_id    TEXT NOT NULL,
  reference     TEXT NOT NULL,
  amount        BIGINT NOT NULL,
  currency      TEXT NOT NULL,
  available     BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  UNIQUE (consent_id, reference)
);

CREATE TABLE audit_log (
  seq            BIGINT PRIMARY KEY,
  at             BIGINT NOT NULL,
  interaction_id TEXT NOT NULL,
  ip             TEXT NOT NULL,
  client_id      TEXT NOT NULL,
  psu            TEXT NOT NULL,
  consent_id     TEXT NOT NULL,
  method         TEXT NOT NULL,
  path           TEXT NOT NULL,
  status         BIGINT NOT NULL,
  decision       TEXT NOT NULL,
  rule           TEXT NOT NULL,
  detail         TEXT NOT NULL,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL
);
CREATE INDEX audit_by_client ON audit_log(client_id, seq);

CREATE TABLE security_events (
  id        BIGSERIAL PRIMARY KEY,
  at        BIGINT NOT NULL,
  client_id TEXT NOT NULL,
  rule      TEXT NOT NULL,
  severity  TEXT NOT NULL,
  summary   TEXT NOT NULL,
  evidence  TEXT NOT NULL,
  action    TEXT NOT NULL,
  prev_hash TEXT NOT NULL DEFAULT '',
  hash      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE audit_anchors (
  chain  TEXT PRIMARY KEY,
  seq    BIGINT NOT NULL,
  hash   TEXT NOT NULL,
  reason TEXT NOT NULL,
  at     BIGINT NOT NULL,
  key_id TEXT NOT NULL,
  mac    TEXT NOT NULL
);

CREATE TABLE refused_traffic (
  minute BIGINT NOT NULL,
  source TEXT NOT NULL,
  rule   TEXT NOT NULL,
  n      BIGINT NOT NULL,
  PRIMARY KEY (minute, source, rule)
);

CREATE TABLE pki (
  name     TEXT PRIMARY KEY,
  cert_pem BYTEA NOT NULL,
  key_pem  BYTEA NOT NULL
);

CREATE TABLE revoked_certs (
  serial     TEXT PRIMARY KEY,
  revoked_at BIGINT NOT NULL
);

-- The audit trail is append-only; retention deletes only what an anchor
-- already covers (as SQLite's triggers of migration 015).
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' OR OLD.seq > coalesce((SELECT seq FROM audit_anchors WHERE chain = 'audit'), 0) THEN
    RAISE EXCEPTION 'the audit log is append-only';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_guard();

CREATE FUNCTION security_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'security events are append-only';
  END IF;
  IF OLD.id > coalesce((SELECT seq FROM audit_anchors WHERE chain = 'events'), 0) THEN
    RAISE EXCEPTION 'security events are append-only';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER security_events_guard BEFORE UPDATE OR DELETE ON security_events FOR EACH ROW EXECUTE FUNCTION security_events_guard();

-- Event notifications: as SQLite's migration 011.
CREATE TABLE event_subscriptions (
  subscription_id TEXT PRIMARY KEY,
  client_id       TEXT NOT NULL UNIQUE,
  callback_url    TEXT NOT NULL DEFAULT '',
  version         TEXT NOT NULL,
  event_types     TEXT NOT NULL DEFAULT '',
  filter          TEXT NOT NULL DEFAULT '[]',
  hold            BIGINT NOT NULL DEFAULT 0,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);

CREATE TABLE event_outbox (
  id        BIGSERIAL PRIMARY KEY,
  jti       TEXT NOT NULL UNIQUE,
  txn       TEXT NOT NULL,
  client_id TEXT NOT NULL,
  type      TEXT NOT NULL,
  family    TEXT NOT NULL,
  kind      TEXT NOT NULL,
  rid       TEXT NOT NULL,
  reason    TEXT NOT NULL DEFAULT '',
  cause     TEXT NOT NULL DEFAULT '',
  set_jwt   TEXT NOT NULL DEFAULT '',
  signed_at BIGINT NOT NULL DEFAULT 0,
  acked_at  BIGINT NOT NULL DEFAULT 0,
  acked_by  TEXT NOT NULL DEFAULT '',
  set_err   TEXT NOT NULL DEFAULT '',
  fresh     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX event_outbox_unsigned ON event_outbox(id) WHERE set_jwt = '';
CREATE INDEX event_outbox_awaiting ON event_outbox(client_id, id) WHERE acked_at = 0;

CREATE TABLE event_deliveries (
  id                  BIGSERIAL PRIMARY KEY,
  event               BIGINT NOT NULL REFERENCES event_outbox(id) DEFERRABLE INITIALLY DEFERRED,
  client_id           TEXT NOT NULL,
  kind                TEXT NOT NULL DEFAULT 'original',
  state               TEXT NOT NULL DEFAULT 'pending',
  ord                 BIGINT NOT NULL DEFAULT 0,
  attempts            BIGINT NOT NULL DEFAULT 0,
  next_attempt_at     BIGINT NOT NULL DEFAULT 0,
  last_attempt_at     BIGINT NOT NULL DEFAULT 0,
  last_status         BIGINT NOT NULL DEFAULT 0,
  last_error          TEXT NOT NULL DEFAULT '',
  last_interaction_id TEXT NOT NULL DEFAULT '',
  delivered_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_deliveries_due ON event_deliveries(client_id, ord, id) WHERE state = 'pending';
CREATE INDEX event_deliveries_by_event ON event_deliveries(event);

-- Whether a subscription takes an event type (an empty filter takes all).
CREATE FUNCTION event_takes(filter TEXT, typ TEXT) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT filter = '[]' OR filter::jsonb @> jsonb_build_array(typ)
$$;

CREATE FUNCTION event_consent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deleted <> 0 THEN
    RETURN NULL;
  END IF;
  IF OLD.status <> NEW.status THEN
    INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
    SELECT gen_random_uuid()::text, gen_random_uuid()::text, s.client_id, 'urn:uk:org:openbanking:events:resource-update',
           'consent', NEW.kind, NEW.consent_id, 'status ' || OLD.status || ' -> ' || NEW.status
    FROM event_subscriptions s
    WHERE s.client_id = NEW.client_id AND event_takes(s.filter, 'urn:uk:org:openbanking:events:resource-update');
  END IF;
  IF OLD.psu_revoked = 0 AND NEW.psu_revoked = 1 THEN
    INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
    SELECT gen_random_uuid()::text, gen_random_uuid()::text, s.client_id, 'urn:uk:org:openbanking:events:consent-authorization-revoked',
           'consent', NEW.kind, NEW.consent_id, 'access revoked by the PSU'
    FROM event_subscriptions s
    WHERE s.client_id = NEW.client_id AND event_takes(s.filter, 'urn:uk:org:openbanking:events:consent-authorization-revoked');
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER event_consent_changed AFTER UPDATE ON consents FOR EACH ROW EXECUTE FUNCTION event_consent_changed();

CREATE FUNCTION event_payment_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
  SELECT gen_random_uuid()::text, gen_random_uuid()::text, s.client_id, 'urn:uk:org:openbanking:events:resource-update',
         'payment', NEW.kind, NEW.payment_id, 'status ' || OLD.status || ' -> ' || NEW.status
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id AND event_takes(s.filter, 'urn:uk:org:openbanking:events:resource-update');
  RETURN NULL;
END $$;
CREATE TRIGGER event_payment_status AFTER UPDATE OF status ON payments FOR EACH ROW
  WHEN (OLD.status <> NEW.status) EXECUTE FUNCTION event_payment_status();

CREATE FUNCTION event_account_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, reason, cause)
  SELECT gen_random_uuid()::text, gen_random_uuid()::text, c.client_id,
         'urn:uk:org:openbanking:events:account-access-consent-linked-account-update', 'consent', c.kind, c.consent_id,
         CASE WHEN NEW.status = 'Enabled' THEN '' ELSE 'UK.OBIE.AccountClosure' END,
         'account ' || NEW.account_id || ' ' || OLD.status || ' -> ' || NEW.status
  FROM consents c JOIN event_subscriptions s ON s.client_id = c.client_id
  WHERE c.kind = 'account-access' AND c.status = 'Authorised' AND c.deleted = 0 AND c.psu_revoked = 0
    AND c.accounts::jsonb @> jsonb_build_array(NEW.account_id)
    AND event_takes(s.filter, 'urn:uk:org:openbanking:events:account-access-consent-linked-account-update')
  ORDER BY c.id;
  RETURN NULL;
END $$;
CREATE TRIGGER event_account_status AFTER UPDATE OF status ON accounts FOR EACH ROW
  WHEN (OLD.status <> NEW.status) EXECUTE FUNCTION event_account_status();

CREATE FUNCTION event_outbox_deliver() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_deliveries(event, client_id, state)
  SELECT NEW.id, NEW.client_id, CASE WHEN s.hold <> 0 THEN 'held' ELSE 'pending' END
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id AND s.callback_url <> '';
  UPDATE event_outbox SET fresh = 0 WHERE id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER event_outbox_deliver AFTER INSERT ON event_outbox FOR EACH ROW
  WHEN (NEW.fresh = 1) EXECUTE FUNCTION event_outbox_deliver();

-- Rate-limit buckets shared by the replicas (SQLite's one process keeps
-- them in memory): a token bucket per class and caller, refilled at the
-- rate, taken from in one atomic upsert (store.TakeToken).
CREATE TABLE rate_buckets (
  key    TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  at     BIGINT NOT NULL,          -- sandbox time of the last take, unix ms
  ok     BOOLEAN NOT NULL
);
