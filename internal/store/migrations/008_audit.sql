-- The audit trail: one row per security decision, append-only and
-- hash-chained (hash = sha256(prev_hash | the row's fields)), so that any
-- edit shows up in `sandbox audit verify`. Security events are what the
-- anomaly rules raise from it.

CREATE TABLE audit_log (
  seq            INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,      -- sandbox time, unix milliseconds
  interaction_id TEXT NOT NULL,
  ip             TEXT NOT NULL,
  client_id      TEXT NOT NULL,
  psu            TEXT NOT NULL,
  consent_id     TEXT NOT NULL,
  method         TEXT NOT NULL,
  path           TEXT NOT NULL,
  status         INTEGER NOT NULL,
  decision       TEXT NOT NULL,         -- allowed | refused
  rule           TEXT NOT NULL,         -- what decided: "ok", an error code, or a named rule
  detail         TEXT NOT NULL,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL
);
CREATE INDEX audit_by_client ON audit_log(client_id, seq);
CREATE INDEX audit_by_interaction ON audit_log(interaction_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE security_events (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,           -- sandbox time, unix milliseconds
  client_id TEXT NOT NULL,
  rule      TEXT NOT NULL,
  severity  TEXT NOT NULL,              -- low | medium | high
  summary   TEXT NOT NULL,
  evidence  TEXT NOT NULL,              -- JSON array of audit seqs
  action    TEXT NOT NULL               -- alerted | suspended
);
