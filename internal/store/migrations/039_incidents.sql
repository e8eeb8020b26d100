-- Incident response drills: each run's record (its phases, the resources
-- it touched), from which, with the audit trail and the security events of
-- its window, the post-incident report is made.
CREATE TABLE incidents (
  id         TEXT PRIMARY KEY,
  scenario   TEXT NOT NULL,
  created_at INTEGER NOT NULL,          -- sandbox clock, unix ms
  record     TEXT NOT NULL              -- JSON
) WITHOUT ROWID;
