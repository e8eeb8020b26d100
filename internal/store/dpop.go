package store

import (
	"context"
	"database/sql"
	"time"
)

// UseDPoPProof records a DPoP proof's jti for its key (RFC 9449 §11.1:
// a proof is used once); bank.ErrConflict when the key already used it.
// The record is kept until exp on the sandbox clock or wallExp in real
// time, whichever comes first: after either the proof is refused anyway.
func (s *Store) UseDPoPProof(ctx context.Context, jkt, jti string, exp, wallExp, now, wallNow time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM dpop_proofs WHERE expires_at < ? OR wall_expires_at < ?", now.Unix(), wallNow.Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO dpop_proofs(jkt, jti, expires_at, wall_expires_at) VALUES(?,?,?,?)",
			jkt, jti, exp.Unix(), wallExp.Unix())
		return err
	})
}
