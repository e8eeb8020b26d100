-- Secrets at rest. The data keys that seal the bank's secrets (signing and
-- certificate keys, dev client secrets, the admin token, the DPoP nonce key,
-- CIBA notification tokens) are kept here only wrapped by a key the database
-- does not hold (the key file's, or a KMS's): without it the sealed columns
-- are noise. One key is current (retired_at 0); rotation re-seals every
-- secret under a new one and deletes the old.
CREATE TABLE data_keys (
  id         TEXT PRIMARY KEY,
  wrapped    TEXT NOT NULL,           -- base64 of the wrapped key
  wrapper    TEXT NOT NULL,           -- the id of the key that wrapped it
  created_at INTEGER NOT NULL,        -- real time, unix seconds
  retired_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- PSU passwords are kept as argon2id hashes; '' for a PSU whose test
-- credential is the fixtures' (listed from them, never from here).
ALTER TABLE psus RENAME COLUMN password TO password_hash;
