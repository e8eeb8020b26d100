package store

import (
	"context"
	"database/sql"
	"time"
)

// PKIItem reads a certificate and key the CA keeps; ErrNotFound if none.
func (s *Store) PKIItem(ctx context.Context, name string) ([]byte, []byte, error) {
	var c, k []byte
	err := s.rc.QueryRowContext(ctx, "SELECT cert_pem, key_pem FROM pki WHERE name = ?", name).Scan(&c, &k)
	if err != nil {
		return nil, nil, translate(err)
	}
	k, err = s.open(ctx, column("pki", "key_pem"), name, string(k))
	return c, k, err
}

// SavePKIItem keeps a certificate and key.
func (s *Store) SavePKIItem(ctx context.Context, name string, cert, key []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		sealed, err := s.sealIn(ctx, tx, column("pki", "key_pem"), name, key)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO pki(name, cert_pem, key_pem) VALUES(?,?,?) ON CONFLICT(name) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem = excluded.key_pem", name, cert, []byte(sealed))
		return err
	})
}

// RevokeCertificate lists a certificate serial (hex) as revoked.
func (s *Store) RevokeCertificate(ctx context.Context, serial string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO revoked_certs(serial, revoked_at) VALUES(?,?)", serial, now.Unix())
		return err
	})
}

// CertificateRevoked reports whether a serial (hex) is revoked.
func (s *Store) CertificateRevoked(ctx context.Context, serial string) (bool, error) {
	return remember(s, "revoked\x00"+serial, nil, func() (bool, error) {
		var n int
		err := s.rc.QueryRowContext(ctx, "SELECT count(*) FROM revoked_certs WHERE serial = ?", serial).Scan(&n)
		return n > 0, translate(err)
	})
}
