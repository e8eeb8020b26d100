package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/secret"
)

// Secrets at rest. Every column that holds something an attacker could use
// — a private key, a client secret, the admin token, the DPoP nonce key, a
// CIBA notification token — holds it sealed: AES-256-GCM under a data key,
// with the column and the row as associated data (a sealed value moved to
// another row or column does not open). Data keys are kept in data_keys only
// wrapped by a keyring.Wrapper (the key file's key, or a KMS), so a copy of
// the database alone reveals none of them. Values that need not be read
// back are not sealed but hashed where they are written: refresh tokens,
// authorization codes, registration tokens and session cookies (SHA-256 of
// 256 random bits), PSU passwords (argon2id, package secret).
//
// A sealed value is "sealed:v1:<data key id>:<base64url(nonce|ciphertext|tag)>".

const sealPrefix = "sealed:v1:"

// sealedColumn is a column holding secrets; key is the column naming the
// row (bound into each value's associated data).
type sealedColumn struct {
	table, column, key string
	where              string // the rows that hold a secret
}

// sealedColumns are every sealed column of the schema.
var sealedColumns = []sealedColumn{
	{"signing_keys", "private_der", "kid", "1 = 1"},
	{"pki", "key_pem", "name", "1 = 1"},
	{"clients", "secret", "client_id", "secret <> ''"},
	{"settings", "value", "key", "key IN ('admin_token', 'dpop_nonce_key')"},
	{"ciba_requests", "notification_token", "auth_req_id", "notification_token <> ''"},
}

// secretSettings are the settings kept sealed.
var secretSettings = map[string]bool{"admin_token": true, "dpop_nonce_key": true}

func (c sealedColumn) aad(row string) string { return c.table + "." + c.column + "/" + row }

func column(table, col string) sealedColumn {
	for _, c := range sealedColumns {
		if c.table == table && c.column == col {
			return c
		}
	}
	panic("store: " + table + "." + col + " is not a sealed column")
}

// ErrDataKey is a database whose data keys the key given cannot unwrap.
var ErrDataKey = errors.New("the database's secrets were sealed under another key")

// ErrSealed is a sealed secret read without any key (an inspection
// without the key file).
var ErrSealed = errors.New("the database's secrets are sealed: this needs its key file")

// sealer holds the data keys unwrapped, by id.
type sealer struct {
	wrapper keyring.Wrapper // nil: none given (an inspection)
	mu      sync.RWMutex
	keys    map[string][]byte
}

// dataKey returns the data key id, unwrapping it from q on first use.
func (s *Store) dataKey(ctx context.Context, q rowQuerier, id string) ([]byte, error) {
	s.seal.mu.RLock()
	k, ok := s.seal.keys[id]
	s.seal.mu.RUnlock()
	if ok {
		return k, nil
	}
	if s.seal.wrapper == nil {
		return nil, ErrSealed
	}
	var wrapped string
	if err := q.QueryRowContext(ctx, "SELECT wrapped FROM data_keys WHERE id = ?", id).Scan(&wrapped); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("data key %s: %w (deleted by a rotation)", id, ErrDataKey)
		}
		return nil, err
	}
	return s.unwrap(id, wrapped)
}

func (s *Store) unwrap(id, wrapped string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(wrapped)
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	k, err := s.seal.wrapper.Unwrap(raw)
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, ErrDataKey)
	}
	s.seal.mu.Lock()
	if s.seal.keys == nil {
		s.seal.keys = map[string][]byte{}
	}
	s.seal.keys[id] = k
	s.seal.mu.Unlock()
	return k, nil
}

// currentDataKey is the key new values are sealed under, read in the
// writing transaction: a replica that has not heard of a rotation yet still
// seals under the key the rotation made.
func (s *Store) currentDataKey(ctx context.Context, tx *sql.Tx) (string, []byte, error) {
	var id string
	err := tx.QueryRowContext(ctx, "SELECT id FROM data_keys WHERE retired_at = 0 ORDER BY created_at DESC, id LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return s.newDataKey(ctx, tx)
	}
	if err != nil {
		return "", nil, err
	}
	k, err := s.dataKey(ctx, tx, id)
	return id, k, err
}

// newDataKey makes a data key and stores it wrapped, current.
func (s *Store) newDataKey(ctx context.Context, tx *sql.Tx) (string, []byte, error) {
	if s.seal.wrapper == nil {
		return "", nil, ErrSealed
	}
	k := make([]byte, 32)
	idb := make([]byte, 8)
	if _, err := rand.Read(k); err != nil {
		return "", nil, err
	}
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	wrapped, err := s.seal.wrapper.Wrap(k)
	if err != nil {
		return "", nil, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO data_keys(id, wrapped, wrapper, created_at) VALUES(?,?,?,?)",
		id, base64.StdEncoding.EncodeToString(wrapped), s.seal.wrapper.ID(), time.Now().Unix()); err != nil {
		return "", nil, err
	}
	s.seal.mu.Lock()
	if s.seal.keys == nil {
		s.seal.keys = map[string][]byte{}
	}
	s.seal.keys[id] = k
	s.seal.mu.Unlock()
	return id, k, nil
}

// sealIn seals a secret of column c, row row, inside a write.
func (s *Store) sealIn(ctx context.Context, tx *sql.Tx, c sealedColumn, row string, plain []byte) (string, error) {
	id, k, err := s.currentDataKey(ctx, tx)
	if err != nil {
		return "", err
	}
	ct, err := keyring.Seal(k, plain, []byte(c.aad(row)))
	if err != nil {
		return "", err
	}
	return sealPrefix + id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// openFrom opens a sealed value of column c, row row ("" stays "").
func (s *Store) openFrom(ctx context.Context, q rowQuerier, c sealedColumn, row, v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(v, sealPrefix)
	if !ok {
		return nil, fmt.Errorf("%s of %s is not sealed", c.table+"."+c.column, row)
	}
	id, b64, ok := strings.Cut(rest, ":")
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if !ok || err != nil {
		return nil, fmt.Errorf("%s of %s: a damaged sealed value", c.table+"."+c.column, row)
	}
	k, err := s.dataKey(ctx, q, id)
	if err != nil {
		return nil, err
	}
	plain, err := keyring.Open(k, ct, []byte(c.aad(row)))
	if err != nil {
		return nil, fmt.Errorf("%s of %s does not open (edited, or moved from another row)", c.table+"."+c.column, row)
	}
	return plain, nil
}

// open is openFrom through the read pool.
func (s *Store) open(ctx context.Context, c sealedColumn, row, v string) ([]byte, error) {
	return s.openFrom(ctx, s.rc, c, row, v)
}

// checkDataKeys unwraps every data key (a wrong key file is found at
// start, not at the first secret read) and makes the first one (in a write,
// when there is none: most opens only read).
func (s *Store) checkDataKeys(ctx context.Context) error {
	current := false
	err := s.read(ctx, func(tx *sql.Tx) error {
		rs, err := tx.QueryContext(ctx, "SELECT id, wrapped, retired_at FROM data_keys")
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id, w string
			var retired int64
			if err := rs.Scan(&id, &w, &retired); err != nil {
				return err
			}
			if _, err := s.unwrap(id, w); err != nil {
				return err
			}
			current = current || retired == 0
		}
		return rs.Err()
	})
	if err != nil || current {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, _, err := s.currentDataKey(ctx, tx)
		return err
	})
}

// sealOnOpen seals what a database written before sealing holds in the
// clear, and hashes its PSU passwords (seeded tells a PSU whose password is
// the fixtures' test credential: kept as ”). SQLite overwrites the space
// the plain values leave (secure_delete), so no copy stays in the file.
func (s *Store) sealOnOpen(ctx context.Context, seeded func(username string) (string, bool)) error {
	// One query (a round trip each was most of a PostgreSQL tenant's
	// opening): the clear values of every sealed column, and the
	// passwords not hashed.
	var q strings.Builder
	q.WriteString("SELECT ")
	for _, c := range sealedColumns {
		q.WriteString("(SELECT count(*) FROM " + c.table + " WHERE " + c.where + " AND " + s.notSealed(c.column) + ") + ")
	}
	q.WriteString("(SELECT count(*) FROM psus WHERE password_hash <> '' AND password_hash NOT LIKE '$argon2id$%')")
	var plain int
	err := s.readEach(ctx, func(rq querier) error { return rq.QueryRowContext(ctx, q.String()).Scan(&plain) })
	if err != nil || plain == 0 {
		return err
	}
	if s.pg == nil {
		if _, err := s.w.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
			return err
		}
		defer s.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = OFF")
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, c := range sealedColumns {
			if err := s.reseal(ctx, tx, c, s.notSealed(c.column)); err != nil {
				return err
			}
		}
		return hashPasswords(ctx, tx, seeded)
	})
	if err == nil && s.pg == nil {
		_, err = s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return err
}

func (s *Store) notSealed(col string) string {
	return "substr(" + col + ", 1, " + fmt.Sprint(len(sealPrefix)) + ") <> '" + sealPrefix + "'"
}

// reseal seals (again) column c's secrets in the rows cond selects under the
// current data key.
func (s *Store) reseal(ctx context.Context, tx *sql.Tx, c sealedColumn, cond string) error {
	type row struct{ key, v string }
	var rows []row
	rs, err := tx.QueryContext(ctx, "SELECT "+c.key+", "+c.column+" FROM "+c.table+" WHERE "+c.where+" AND "+cond)
	if err != nil {
		return err
	}
	for rs.Next() {
		var r row
		var raw []byte
		if err := rs.Scan(&r.key, &raw); err != nil {
			rs.Close()
			return err
		}
		r.v = string(raw)
		rows = append(rows, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for _, r := range rows {
		plain := []byte(r.v)
		if strings.HasPrefix(r.v, sealPrefix) {
			if plain, err = s.openFrom(ctx, tx, c, r.key, r.v); err != nil {
				return err
			}
		}
		sealed, err := s.sealIn(ctx, tx, c, r.key, plain)
		if err != nil {
			return err
		}
		var arg any = sealed
		if c.column == "private_der" || c.column == "key_pem" {
			arg = []byte(sealed)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+c.table+" SET "+c.column+" = ? WHERE "+c.key+" = ?", arg, r.key); err != nil {
			return err
		}
	}
	return nil
}

// hashPasswords replaces PSU passwords kept in the clear by argon2id
// hashes, or by ” where the password is the PSU's fixture credential.
func hashPasswords(ctx context.Context, tx *sql.Tx, seeded func(string) (string, bool)) error {
	rs, err := tx.QueryContext(ctx, "SELECT username, password_hash FROM psus WHERE password_hash <> '' AND password_hash NOT LIKE '$argon2id$%'")
	if err != nil {
		return err
	}
	plain := map[string]string{}
	for rs.Next() {
		var u, p string
		if err := rs.Scan(&u, &p); err != nil {
			rs.Close()
			return err
		}
		plain[u] = p
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for u, p := range plain {
		h := ""
		if cred, ok := seededOf(seeded, u); !ok || cred != p {
			if h, err = secret.HashPassword(p); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE psus SET password_hash = ? WHERE username = ?", h, u); err != nil {
			return err
		}
	}
	return nil
}

func seededOf(seeded func(string) (string, bool), u string) (string, bool) {
	if seeded == nil {
		return "", false
	}
	return seeded(u)
}

// DataKeyRotation is what RotateDataKey did.
type DataKeyRotation struct {
	DataKey  string   `json:"data_key"`   // the new key's id
	Retired  []string `json:"retired"`    // the ids deleted
	Resealed int      `json:"resealed"`   // secrets sealed again
	Wrapper  string   `json:"wrapped_by"` // the wrapping key's id
}

// RotateDataKey makes a new data key, re-seals every secret under it and
// deletes the old keys, in one transaction: requests go on meanwhile and
// read either all the old sealing or all the new.
func (s *Store) RotateDataKey(ctx context.Context) (DataKeyRotation, error) {
	var r DataKeyRotation
	if s.seal.wrapper == nil {
		return r, ErrSealed
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		r = DataKeyRotation{Wrapper: s.seal.wrapper.ID()}
		rs, err := tx.QueryContext(ctx, "SELECT id FROM data_keys ORDER BY id")
		if err != nil {
			return err
		}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return err
			}
			r.Retired = append(r.Retired, id)
		}
		rs.Close()
		// The old keys open what they sealed before they are retired.
		for _, id := range r.Retired {
			if _, err := s.dataKey(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE data_keys SET retired_at = ? WHERE retired_at = 0", time.Now().Unix()); err != nil {
			return err
		}
		if r.DataKey, _, err = s.newDataKey(ctx, tx); err != nil {
			return err
		}
		for _, c := range sealedColumns {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+c.table+" WHERE "+c.where).Scan(&n); err != nil {
				return err
			}
			if err := s.reseal(ctx, tx, c, "1 = 1"); err != nil {
				return err
			}
			r.Resealed += n
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM data_keys WHERE id <> ?", r.DataKey)
		return err
	})
	if err != nil {
		return DataKeyRotation{}, err
	}
	s.seal.mu.Lock()
	for _, id := range r.Retired {
		delete(s.seal.keys, id)
	}
	s.seal.mu.Unlock()
	return r, nil
}

// SealedRow is one secret as the database holds it and as the bank reads it.
type SealedRow struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Row    string `json:"row"`
	Sealed string `json:"sealed"` // the column's bytes
	Plain  []byte `json:"-"`      // what the bank reads
}

// SealedRows lists every sealed secret with what it opens to.
func (s *Store) SealedRows(ctx context.Context) ([]SealedRow, error) {
	var out []SealedRow
	for _, c := range sealedColumns {
		q := "SELECT " + c.key + ", " + c.column + " FROM " + c.table + " WHERE " + c.where + " ORDER BY 1"
		rows, err := s.rc.QueryContext(ctx, q)
		if err != nil {
			return nil, translate(err)
		}
		var batch []SealedRow
		for rows.Next() {
			var key string
			var raw []byte
			if err := rows.Scan(&key, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			batch = append(batch, SealedRow{Table: c.table, Column: c.column, Row: key, Sealed: string(raw)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, translate(err)
		}
		for i := range batch {
			if batch[i].Plain, err = s.open(ctx, c, batch[i].Row, batch[i].Sealed); err != nil {
				return nil, err
			}
		}
		out = append(out, batch...)
	}
	return out, nil
}
