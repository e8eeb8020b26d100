-- DPoP (RFC 9449): a token bound to the key of its client's DPoP proofs
-- carries that key's JWK SHA-256 thumbprint (RFC 7638), '' when it is not
-- DPoP-bound; every proof's jti is remembered for as long as the proof could
-- be accepted, which ends when its iat leaves the window (real time) or its
-- server nonce runs out (sandbox clock), whichever comes first.
ALTER TABLE tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';

CREATE TABLE dpop_proofs (
  jkt             TEXT NOT NULL,
  jti             TEXT NOT NULL,
  expires_at      INTEGER NOT NULL,
  wall_expires_at INTEGER NOT NULL,
  PRIMARY KEY (jkt, jti)
);
