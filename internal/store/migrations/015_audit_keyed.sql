-- The audit trail becomes tamper-evident against someone who can write this
-- file (but not the key file beside it): from here on each entry's hash is an
-- HMAC-SHA256 under a key derived from the sandbox's key file, and so are the
-- security events'. An anchor per chain says where its keyed part starts
-- (after the entries written before this migration, or after those pruned by
-- retention), which key chains it, and carries a MAC of its own.

CREATE TABLE audit_anchors (
  chain  TEXT PRIMARY KEY,   -- audit | events
  seq    INTEGER NOT NULL,   -- the last entry before the first one the chain verifies
  hash   TEXT NOT NULL,      -- that entry's hash ('' when seq is 0)
  reason TEXT NOT NULL,      -- start | legacy | retention
  at     INTEGER NOT NULL,   -- when the anchor was set, sandbox time (unix ms)
  key_id TEXT NOT NULL,      -- the key that chains what follows
  mac    TEXT NOT NULL       -- HMAC over the fields above
);

ALTER TABLE security_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE security_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;

-- Retention may delete entries that an anchor already covers, and only
-- those: the anchor (with its MAC) moves first, then the rows at or before
-- it go. Everything after the anchor stays append-only.
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  WHEN old.seq > coalesce((SELECT seq FROM audit_anchors WHERE chain = 'audit'), 0)
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
  WHEN old.id > coalesce((SELECT seq FROM audit_anchors WHERE chain = 'events'), 0)
  BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;

-- Refused traffic from callers who proved nothing (no token, no client
-- authentication, no PSU login) is counted per minute, source and rule
-- instead of being kept request by request: no anonymous client can grow
-- the file faster than the number of distinct (source, rule) pairs.
CREATE TABLE refused_traffic (
  minute INTEGER NOT NULL,  -- sandbox time, unix minutes
  source TEXT NOT NULL,     -- the caller's address ('other' past the per-minute cap)
  rule   TEXT NOT NULL,
  n      INTEGER NOT NULL,
  PRIMARY KEY (minute, source, rule)
) WITHOUT ROWID;
