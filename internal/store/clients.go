package store

import (
	"context"
	"database/sql"
	"errors"
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

// ErrSoftwareRegistered is returned by CreateClient and UpdateClient when
// another client already holds the metadata's software_id.
var ErrSoftwareRegistered = errors.New("the software already has a client")

// softwareTaken checks, inside a write, that no other client holds the
// software_id of c's metadata (none: nothing to check). The check and the
// write share the transaction, so two concurrent registrations of one
// software cannot both pass.
func (s *Store) softwareTaken(ctx context.Context, tx *sql.Tx, c Client) error {
	var other string
	err := tx.QueryRowContext(ctx, softwareQuery(s.pg != nil), string(c.Metadata), c.ID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return ErrSoftwareRegistered
}

// softwareQuery finds another client of the software of the metadata given
// as its first argument, by the index on that expression (migration 040).
func softwareQuery(pg bool) string {
	field := func(expr string) string { return "json_extract(" + expr + ", '$.software_id')" }
	if pg {
		field = func(expr string) string { return "(" + expr + ")::jsonb ->> 'software_id'" }
	}
	return `SELECT client_id FROM clients WHERE ` + field("metadata") + ` = ` + field("?") + ` AND client_id <> ? LIMIT 1`
}

// CreateClient stores a new client; ErrConflict if the id is taken,
// ErrSoftwareRegistered if its software_id is another client's.
func (s *Store) CreateClient(ctx context.Context, c Client) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.softwareTaken(ctx, tx, c); err != nil {
			return err
		}
		secret, err := s.sealSecret(ctx, tx, c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO clients("+clientCols+") VALUES(?,?,?,?,?,?,?)",
			c.ID, string(c.Metadata), c.SecretHash, secret, c.RegistrationHash, unix(c.CreatedAt), c.Suspended)
		return err
	})
}

// Client reads a client; ErrNotFound if unknown.
func (s *Store) Client(ctx context.Context, id string) (Client, error) {
	c, err := scanClient(s.rc.QueryRowContext(ctx, "SELECT "+clientCols+" FROM clients WHERE client_id = ?", id))
	if err != nil {
		return c, translate(err)
	}
	secret, err := s.open(ctx, column("clients", "secret"), c.ID, c.Secret)
	c.Secret = string(secret)
	return c, err
}

// sealSecret seals the client secret kept for HS256 ("" stays "").
func (s *Store) sealSecret(ctx context.Context, tx *sql.Tx, c Client) (string, error) {
	if c.Secret == "" {
		return "", nil
	}
	return s.sealIn(ctx, tx, column("clients", "secret"), c.ID, []byte(c.Secret))
}

// UpdateClient rewrites a client's metadata and secrets; ErrNotFound if
// unknown, ErrSoftwareRegistered if its software_id is another client's.
func (s *Store) UpdateClient(ctx context.Context, c Client) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.softwareTaken(ctx, tx, c); err != nil {
			return err
		}
		secret, err := s.sealSecret(ctx, tx, c)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE clients SET metadata = ?, secret_hash = ?, secret = ?, registration_hash = ?, suspended = ? WHERE client_id = ?",
			string(c.Metadata), c.SecretHash, secret, c.RegistrationHash, c.Suspended, c.ID)
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
