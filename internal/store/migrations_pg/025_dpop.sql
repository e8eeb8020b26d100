-- DPoP (RFC 9449): the PostgreSQL twin of migrations/025_dpop.sql.
ALTER TABLE tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';

CREATE TABLE dpop_proofs (
  jkt             TEXT NOT NULL,
  jti             TEXT NOT NULL,
  expires_at      BIGINT NOT NULL,
  wall_expires_at BIGINT NOT NULL,
  PRIMARY KEY (jkt, jti)
);
