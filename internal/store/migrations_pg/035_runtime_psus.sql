-- PSUs added at run time: the PostgreSQL twin of migrations/035_runtime_psus.sql.
CREATE TABLE runtime_psus (
  username   TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL
);
