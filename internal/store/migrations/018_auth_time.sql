-- When the PSU authenticated at the bank (real time, unix seconds), kept
-- with the code and the tokens it gives so that every ID token of the grant,
-- refreshed ones included, carries the same auth_time (OIDC Core §2).
ALTER TABLE auth_codes ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
