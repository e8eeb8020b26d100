-- Decoupled authentication (OpenID CIBA Core 1.0): a TPP's backchannel
-- authentication request, waiting for the PSU to approve it on another
-- device, then for the TPP to collect its tokens. Times are sandbox-clock
-- unix seconds, but auth_time, which is real time (as in auth_codes).
CREATE TABLE ciba_requests (
  auth_req_id        TEXT PRIMARY KEY,
  handle             TEXT NOT NULL UNIQUE,  -- names the request in the PSU's pages (a hash of auth_req_id)
  client_id          TEXT NOT NULL,
  consent_id         TEXT NOT NULL,
  psu                TEXT NOT NULL,         -- the PSU the request's hint names
  scope              TEXT NOT NULL,
  binding_message    TEXT NOT NULL DEFAULT '',
  mode               TEXT NOT NULL,         -- poll | ping
  notification_token TEXT NOT NULL DEFAULT '',
  status             TEXT NOT NULL,         -- pending | deciding | approved | denied | issued
  reason             TEXT NOT NULL DEFAULT '',
  interval_s         INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  polled_at          INTEGER NOT NULL DEFAULT 0,
  decided_at         INTEGER NOT NULL DEFAULT 0,
  auth_time          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ciba_requests_by_psu ON ciba_requests(psu, status);
