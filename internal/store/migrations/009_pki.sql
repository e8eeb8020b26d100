-- The development CA, the server certificate, and revoked client
-- certificates. Reset keeps them, as it keeps clients.
CREATE TABLE pki (
  name     TEXT PRIMARY KEY,
  cert_pem BLOB NOT NULL,
  key_pem  BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE revoked_certs (
  serial     TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL
) WITHOUT ROWID;
