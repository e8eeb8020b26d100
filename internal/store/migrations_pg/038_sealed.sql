-- Secrets at rest: the PostgreSQL twin of migrations/038_sealed.sql.
CREATE TABLE data_keys (
  id         TEXT PRIMARY KEY,
  wrapped    TEXT NOT NULL,
  wrapper    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE psus RENAME COLUMN password TO password_hash;
