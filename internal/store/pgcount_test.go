package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestRowCountOnPostgres: the count of a transaction's changed rows (the
// audit entry of a change) resolves each table as it runs: a name the
// schema lacks counts nothing and fails nothing (the list comes from the
// first schema this process opened, which may hold tables of others'), and
// a table made again after the count was first prepared is counted.
func TestRowCountOnPostgres(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	s, dsn := storetest.OpenFresh(t, store.Options{})
	conn := storetest.Connect(t, dsn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO settings(key, value) VALUES('a', '1'), ('b', '2')"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tx.QueryRow(ctx, store.ChangesSQL([]string{"settings", "dba_notes", "spatial_ref_sys"})).Scan(&n); err != nil || n != 2 {
		t.Errorf("with names the schema lacks: %d rows, %v; want 2", n, err)
	}
	tx.Rollback(ctx)

	// Made again after the store's count was first prepared.
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	actx := store.WithActor(ctx, func() store.AuditEntry {
		return store.AuditEntry{At: at, InteractionID: "i-1", ClientID: "c1", Method: "PUT", Path: "/x"}
	})
	if err := s.SetSetting(actx, "k1", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE settings RENAME TO settings_old; CREATE TABLE settings (LIKE settings_old INCLUDING ALL); INSERT INTO settings SELECT * FROM settings_old"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(actx, "k2", "v"); err != nil {
		t.Fatal(err)
	}
	es, err := s.Audit(ctx, store.AuditQuery{Decision: store.DecisionCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].Detail != "SetSetting: 1 rows" {
		t.Errorf("committed entries %+v; want two, the second of the setting written to the table made again", es)
	}
}

// TestMigrationCheckSeesANewerSchema: a schema another binary migrated
// further is opened at its version (and is not ready for this binary), not
// taken as current.
func TestMigrationCheckSeesANewerSchema(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	dsn := storetest.FreshSchema(t)
	key := keyring.New()
	s, err := store.Open(ctx, dsn, store.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	current := s.Version
	s.Close()
	conn := storetest.Connect(t, dsn)
	if _, err := conn.Exec(ctx, "INSERT INTO schema_version(version) VALUES($1)", current+1); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, dsn, store.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Version != current+1 || s.Ready(ctx) == nil {
		t.Errorf("opened at version %d (ready: %v); want %d, not ready", s.Version, s.Ready(ctx), current+1)
	}
}
