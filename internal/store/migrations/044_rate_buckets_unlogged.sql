-- Nothing on SQLite: its one process keeps rate-limit buckets in memory.
-- PostgreSQL's migration 044 makes its shared rate_buckets table unlogged;
-- the two schemas keep one version number.
SELECT 1
