-- Authorization requests waiting for the PSU (the browser journey) and PSU
-- sessions (the pages of the bank the PSU logs in to).

CREATE TABLE auth_requests (
  id         TEXT PRIMARY KEY,        -- random, in the page URLs
  client_id  TEXT NOT NULL,
  params     TEXT NOT NULL,           -- JSON: the validated authorization request
  csrf       TEXT NOT NULL,
  psu        TEXT NOT NULL DEFAULT '', -- set once the PSU has logged in
  session    TEXT NOT NULL DEFAULT '', -- sha256 of the session cookie that logged in
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  done_at    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE psu_sessions (
  id_hash    TEXT PRIMARY KEY,        -- sha256 of the cookie value
  username   TEXT NOT NULL,
  csrf       TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
