-- Decoupled authentication (OpenID CIBA Core 1.0): the PostgreSQL twin of
-- migrations/026_ciba.sql.
CREATE TABLE ciba_requests (
  auth_req_id        TEXT PRIMARY KEY,
  handle             TEXT NOT NULL UNIQUE,
  client_id          TEXT NOT NULL,
  consent_id         TEXT NOT NULL,
  psu                TEXT NOT NULL,
  scope              TEXT NOT NULL,
  binding_message    TEXT NOT NULL DEFAULT '',
  mode               TEXT NOT NULL,
  notification_token TEXT NOT NULL DEFAULT '',
  status             TEXT NOT NULL,
  reason             TEXT NOT NULL DEFAULT '',
  interval_s         BIGINT NOT NULL,
  created_at         BIGINT NOT NULL,
  expires_at         BIGINT NOT NULL,
  polled_at          BIGINT NOT NULL DEFAULT 0,
  decided_at         BIGINT NOT NULL DEFAULT 0,
  auth_time          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ciba_requests_by_psu ON ciba_requests(psu, status);
