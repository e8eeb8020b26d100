package bench

import (
	"context"
	"path/filepath"

	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
)

// TargetPostgres is the sandbox on PostgreSQL, run after the suite on
// SQLite in the same run (--postgres).
const TargetPostgres = "postgres"

// PostgresRun is what the suite measured of the sandbox on PostgreSQL.
type PostgresRun struct {
	DSN      string       `json:"dsn"`
	Seed     SeedResult   `json:"seed"`
	Payments PaymentCheck `json:"payments"`
}

// keyFile is the key file a PostgreSQL database is served with (one for
// the seed, the server and the check, in the results folder).
func (r *runner) keyFile(db string) []string {
	if !store.IsPostgres(db) {
		return nil
	}
	return []string{"--key-file", filepath.Join(r.o.Out, "postgres.key")}
}

// openForCheck opens the database the sandbox served, to read it.
func (r *runner) openForCheck(ctx context.Context, db string) (*store.Store, error) {
	o := store.Options{Inspect: true}
	if store.IsPostgres(db) {
		k, err := keyring.Load(filepath.Join(r.o.Out, "postgres.key"), false)
		if err != nil {
			return nil, err
		}
		o.Key = k
	}
	return store.Open(ctx, db, o)
}

// postgresToo runs the sandbox's routes again on PostgreSQL (a schema of
// its own, dropped before and after) and adds them to the report as the
// postgres target, beside the sandbox on SQLite.
func (r *runner) postgresToo(ctx context.Context) error {
	o := r.o
	o.DB, o.Targets, o.Postgres = r.o.Postgres, []string{TargetSandbox}, ""
	if err := store.DropSchema(ctx, o.DB); err != nil {
		return err
	}
	pr := &runner{o: o, logw: r.logw, t0: r.t0, admin: r.admin, wrk: r.wrk,
		rep: &Report{Started: r.rep.Started, Machine: r.rep.Machine}}
	r.logf("the suite again on PostgreSQL (%s)", o.DB)
	err := pr.suite(ctx)
	for _, row := range pr.rep.Rows {
		if row.Target == TargetSandbox {
			row.Target = TargetPostgres
			r.rep.Rows = append(r.rep.Rows, row)
		}
	}
	for _, s := range pr.rep.Servers {
		if s.Name == TargetSandbox {
			s.Name = TargetPostgres
			r.rep.Servers = append(r.rep.Servers, s)
		}
	}
	r.rep.Postgres = &PostgresRun{DSN: o.DB, Seed: pr.rep.Seed, Payments: pr.rep.Payments}
	r.rep.Notes = append(r.rep.Notes, pr.rep.Notes...)
	return err
}
