-- A reused authorization code is remembered, so tokens saved after the
-- reuse was detected are revoked too (a race between two redemptions).
ALTER TABLE auth_codes ADD COLUMN reused_at INTEGER NOT NULL DEFAULT 0;
