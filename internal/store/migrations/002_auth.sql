-- The authorization server and consents: bank signing keys, registered
-- clients, consents of every kind, tokens, authorization codes, PAR requests,
-- used assertion ids and PSU login lockouts. Times are sandbox-clock unix seconds.

CREATE TABLE signing_keys (
  kid         TEXT PRIMARY KEY,
  alg         TEXT NOT NULL,
  private_der BLOB NOT NULL,           -- PKCS#8
  created_at  INTEGER NOT NULL,
  retired_at  INTEGER NOT NULL DEFAULT 0  -- 0: the current key; else kept to verify until its tokens expire
) WITHOUT ROWID;

CREATE TABLE clients (
  client_id        TEXT PRIMARY KEY,
  metadata         TEXT NOT NULL,      -- JSON: the registered client metadata
  secret_hash      TEXT NOT NULL,      -- sha256 of client_secret (dev profile); '' if none
  secret           TEXT NOT NULL,      -- kept for HS256 request objects in dev; '' if none
  registration_hash TEXT NOT NULL,     -- sha256 of the registration access token
  created_at       INTEGER NOT NULL,
  suspended        TEXT NOT NULL DEFAULT ''  -- reason, '' when active
) WITHOUT ROWID;

CREATE TABLE consents (
  id           INTEGER PRIMARY KEY,
  consent_id   TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL,          -- account-access | domestic-payment | ...
  client_id    TEXT NOT NULL,
  status       TEXT NOT NULL,
  psu          TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  status_at    INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL DEFAULT 0,
  tx_from      INTEGER NOT NULL DEFAULT 0,
  tx_to        INTEGER NOT NULL DEFAULT 0,
  permissions  INTEGER NOT NULL DEFAULT 0,
  accounts     TEXT NOT NULL DEFAULT '[]',  -- JSON array of AccountIds the PSU selected
  request      TEXT NOT NULL DEFAULT '{}',  -- JSON: the consent request as the bank keeps it
  deleted      INTEGER NOT NULL DEFAULT 0,  -- DELETE by the TPP
  psu_revoked  INTEGER NOT NULL DEFAULT 0   -- access revoked by the PSU (status unchanged)
);
CREATE INDEX consents_by_client ON consents(client_id);
CREATE INDEX consents_by_psu ON consents(psu) WHERE psu <> '';

CREATE TABLE tokens (
  jti        TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,            -- access | refresh
  client_id  TEXT NOT NULL,
  consent_id TEXT NOT NULL DEFAULT '',
  psu        TEXT NOT NULL DEFAULT '',
  scope      TEXT NOT NULL,
  grant_type TEXT NOT NULL,            -- client_credentials | authorization_code | refresh_token
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,         -- 0: never
  revoked_at INTEGER NOT NULL DEFAULT 0,
  code       TEXT NOT NULL DEFAULT '', -- the authorization code it came from
  cnf        TEXT NOT NULL DEFAULT ''  -- x5t#S256 of the bound certificate
) WITHOUT ROWID;
CREATE INDEX tokens_by_consent ON tokens(consent_id) WHERE consent_id <> '';
CREATE INDEX tokens_by_code ON tokens(code) WHERE code <> '';

CREATE TABLE auth_codes (
  code_hash      TEXT PRIMARY KEY,     -- sha256 of the code
  client_id      TEXT NOT NULL,
  consent_id     TEXT NOT NULL,
  psu            TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  issued_at      INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE par_requests (
  request_uri TEXT PRIMARY KEY,
  client_id   TEXT NOT NULL,
  params      TEXT NOT NULL,           -- JSON: the authorization request's parameters
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE used_jtis (
  client_id  TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;

CREATE TABLE psu_logins (
  username     TEXT PRIMARY KEY,
  failures     INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
