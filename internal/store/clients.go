package store

import (
	"context"
	"database/sql"
	"time"
)

// Client is a registered OAuth client (a TPP's application) as stored.
type Client struct {
	ID               string
	Metadata         []byte // JSON: the registered metadata
	SecretHash       string
	Secret           string
	RegistrationHash string
	CreatedAt        time.Time
	Suspended        string
}

const clientCols = "client_id, metadata, secret_hash, secret, registration_hash, created_at, suspended"

func scanClient(sc interface{ Scan(...any) error }) (Client, error) {
	var c Client
	var created int64
	var meta string
	err := sc.Scan(&c.ID, &meta, &c.SecretHash, &c.Secret, &c.RegistrationHash, &created, &c.Suspended)
	c.Metadata, c.CreatedAt = []byte(meta), fromUnix(created)
	return c, err
}

// CreateClient stores a new client; ErrConflict if the id is taken.
func (s *Store) CreateClient(ctx context.Context, c Client) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO clients("+clientCols+") VALUES(?,?,?,?,?,?,?)",
			c.ID, string(c.Metadata), c.SecretHash, c.Secret, c.RegistrationHash, unix(c.CreatedAt), c.Suspended)
		return err
	})
}

// Client reads a client; ErrNotFound if unknown.
func (s *Store) Client(ctx context.Context, id string) (Client, error) {
	c, err := scanClient(s.rc.QueryRowContext(ctx, "SELECT "+clientCols+" FROM clients WHERE client_id = ?", id))
	return c, translate(err)
}

// UpdateClient rewrites a client's metadata and secrets; ErrNotFound if unknown.
func (s *Store) UpdateClient(ctx context.Context, c Client) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE clients SET metadata = ?, secret_hash = ?, secret = ?, registration_hash = ?, suspended = ? WHERE client_id = ?",
			string(c.Metadata), c.SecretHash, c.Secret, c.RegistrationHash, c.Suspended, c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// DeleteClient removes a client and revokes every token it holds.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE client_id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		_, err = tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at = 0", now.Unix(), id)
		return err
	})
}
