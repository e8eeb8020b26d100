package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/store"
)

// On PostgreSQL a new tenant is a schema migrated and seeded from the
// template: most of a second of the database's work. With --tenant-spares
// the root keeps that many made ahead, off any request's path, as the bank
// keeps spare signing keys: each is made under a name no tenant has
// (<schema>_m_<random>), renamed to <schema>_s_<random> once complete, and a
// new tenant takes one by renaming it to its own schema. A rename is atomic:
// replicas sharing the database never take the same spare, and a spare is
// always whole. A spare made by another binary or seed is still right to
// take: opening it migrates and reseeds what differs.

func spareSchemaPrefix(db string) string  { return store.SchemaOf(db) + "_s_" }
func makingSchemaPrefix(db string) string { return store.SchemaOf(db) + "_m_" }

// takeSpare renames a spare schema to the tenant's (dsn names it); false
// when none could be taken (the tenant is then made as without spares).
// The caller kicks the maker once the tenant is open (making one beside
// the tenant's opening would slow it).
func (ts *tenants) takeSpare(ctx context.Context, dsn string) bool {
	if !ts.pg() || ts.root.Config.TenantSpares == 0 {
		return false
	}
	db := ts.root.Config.DB
	took, err := store.TakeSchema(ctx, db, spareSchemaPrefix(db), store.SchemaOf(dsn))
	return err == nil && took
}

func (ts *tenants) kickSpares() {
	select {
	case ts.spareKick <- struct{}{}:
	default:
	}
}

// spareLoop keeps --tenant-spares spares until ctx ends: after start-up and
// whenever one is taken.
func (ts *tenants) spareLoop(ctx context.Context) {
	db, want := ts.root.Config.DB, ts.root.Config.TenantSpares
	for {
		for ctx.Err() == nil {
			have, err := store.Schemas(ctx, db, spareSchemaPrefix(db))
			if err != nil || len(have) >= want {
				break
			}
			if err := ts.makeSpare(ctx); err != nil {
				if ctx.Err() == nil {
					ts.root.Log.Error("making a spare tenant schema", "error", err)
				}
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ts.spareKick:
		case <-time.After(time.Minute): // another replica may have taken ours
		}
	}
}

// makeSpare makes one spare: a tenant's schema opened (migrated, seeded,
// its data key made) and closed, then renamed as a spare.
func (ts *tenants) makeSpare(ctx context.Context) error {
	db := ts.root.Config.DB
	id := make([]byte, 6)
	rand.Read(id)
	making := store.WithSchema(db, makingSchemaPrefix(db)+hex.EncodeToString(id))
	cfg := ts.root.Config
	cfg.DB, cfg.Reset, cfg.AdminToken, cfg.small = making, false, "", true
	a := &App{Config: cfg, Log: ts.root.Log.With("spare", store.SchemaOf(making)), Clock: clock.New(cfg.Wall), CA: ts.root.CA,
		URL: ts.root.URL, specs: ts.root.specs}
	err := a.open(ctx)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = store.RenameSchema(ctx, db, store.SchemaOf(making), spareSchemaPrefix(db)+hex.EncodeToString(id))
	}
	if err != nil {
		store.DropSchema(context.WithoutCancel(ctx), making)
	}
	return err
}
