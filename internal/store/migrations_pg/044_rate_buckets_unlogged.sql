-- Rate-limit buckets are written on every request and worth nothing after a
-- crash (a bucket lost is a full one): unlogged, an upsert commits without
-- waiting for the WAL to reach the disk, so a slow fsync cannot hold up
-- every request behind it (PostgreSQL manual, CREATE TABLE "UNLOGGED").
ALTER TABLE rate_buckets SET UNLOGGED
