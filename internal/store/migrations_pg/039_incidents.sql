-- Incident response drills: the PostgreSQL twin of migrations/039_incidents.sql.
CREATE TABLE incidents (
  id         TEXT PRIMARY KEY,
  scenario   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  record     TEXT NOT NULL
);
