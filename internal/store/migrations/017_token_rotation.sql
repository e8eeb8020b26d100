-- When a refresh token was used up by rotation (RFC 9700 §4.14.2), as
-- opposed to revoked by the PSU, a consent deletion or RFC 7009: only a
-- rotated-out token presented again counts as reuse.
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER NOT NULL DEFAULT 0;
