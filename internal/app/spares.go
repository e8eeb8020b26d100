package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/store"
)

// On PostgreSQL a new tenant is a schema migrated and seeded from the
// template: most of a second of the database's work. With --tenant-spares
// the root keeps that many made ahead, off any request's path, as the bank
// keeps spare signing keys: each is made under a name no tenant has
// (<schema>_m_<when>_<random>), renamed to <schema>_s_<bank>_<random> once
// complete, and a new tenant takes one by renaming it to its own schema. A
// rename is atomic: replicas sharing the database never take the same
// spare, and a spare is always whole. <bank> names what the spare holds
// (templateKey: the seed record, the fixtures, the schema version): only a
// spare of the bank this process would seed is taken, and the maker drops
// the others (a restart with another seed, PSU count or binary) and those
// beyond --tenant-spares, and those a crash left half made.

func makingSchemaPrefix(db string) string { return store.SchemaOf(db) + "_m_" }

// maxSparesSchema is the longest root schema name a spare's name
// (<schema>_s_<16 hex>_<12 hex>) fits after, in PostgreSQL's 63 bytes.
const maxSparesSchema = 63 - len("_s_0123456789abcdef_0123456789ab")

// makingName names a spare being made, after the wall-clock second its
// making began (hex), so that one a crash left half made can be told from
// one another replica is making now.
func makingName(db string, at time.Time, id []byte) string {
	return fmt.Sprintf("%s%08x_%s", makingSchemaPrefix(db), at.Unix(), hex.EncodeToString(id))
}

// abandonedAfter is how long a spare may take to make before its schema is
// taken for a crash's leftover (it takes about a second).
const abandonedAfter = 10 * time.Minute

// dropSpare drops a spare unless another process takes it first: it is
// renamed out of the spares' names before the drop (a rename is atomic, a
// drop is not: a spare renamed to a tenant's schema while being dropped
// would take the new tenant with it).
func (ts *tenants) dropSpare(ctx context.Context, spare string) {
	id := make([]byte, 6)
	rand.Read(id)
	doomed := makingName(ts.root.Config.DB, time.Unix(0, 0), id) // abandoned already, should the drop fail
	if ts.catalog().Rename(ctx, spare, doomed) == nil {
		ts.catalog().Drop(ctx, doomed)
	}
}

// sweepAbandoned drops the spares left half made longer ago than
// abandonedAfter.
func (ts *tenants) sweepAbandoned(ctx context.Context) {
	prefix := makingSchemaPrefix(ts.root.Config.DB)
	making, _ := ts.catalog().List(ctx, prefix)
	for _, m := range making {
		began, _, _ := strings.Cut(strings.TrimPrefix(m, prefix), "_")
		if sec, err := strconv.ParseInt(began, 16, 64); err == nil && len(began) == 8 && ts.wall().Sub(time.Unix(sec, 0)) < abandonedAfter {
			continue
		}
		if err := ts.catalog().Drop(ctx, m); err == nil {
			ts.root.Log.Info("dropped a spare tenant schema left half made", "schema", m)
		}
	}
}

// spareKind is the prefix of the spares of this process's bank (its seed,
// fixtures and schema, and the size of the signing key made with it), and
// of all.
func (ts *tenants) spareKind() (mine, all string, err error) {
	a := ts.root
	key, err := templateKey(a.Fixtures, seedRecord{Seed: a.Config.Seed, PSUs: a.Config.PSUs, Date: a.Config.SeedDate, Personas: personasDigest(a.Personas)})
	sum := sha256.Sum256([]byte(key + "/" + strconv.Itoa(a.Config.keyBits())))
	all = store.SchemaOf(a.Config.DB) + "_s_"
	return all + hex.EncodeToString(sum[:8]) + "_", all, err
}

// claim makes a new tenant's name (dsn) this process's before the tenant
// is made. On PostgreSQL, where replicas share the names, it takes a spare
// schema (true; when spares and one is ready) or makes the empty schema:
// of replicas making one tenant at once exactly one gets the name, the
// others store.ErrSchemaExists. A file of SQLite's is only ever this
// process's.
func (ts *tenants) claim(ctx context.Context, dsn string, spares bool) (bool, error) {
	if !ts.pg() {
		return false, nil
	}
	if spares && ts.root.Config.TenantSpares > 0 {
		took, err := ts.takeSpare(ctx, dsn)
		if took || errors.Is(err, store.ErrSchemaExists) {
			return took, err
		}
		if err != nil {
			ts.root.Log.Warn("taking a spare tenant schema", "error", err)
		}
	}
	return false, ts.catalog().Claim(ctx, store.SchemaOf(dsn))
}

// takeSpare renames a spare schema to the tenant's (dsn names it); false
// when none could be taken (the tenant is then made as without spares).
// The caller kicks the maker once the tenant is open (making one beside
// the tenant's opening would slow it).
func (ts *tenants) takeSpare(ctx context.Context, dsn string) (bool, error) {
	mine, _, err := ts.spareKind()
	if err != nil {
		return false, err
	}
	return ts.catalog().Take(ctx, mine, store.SchemaOf(dsn))
}

// warmConns is how many connections to the database's server are kept
// dialled ahead beside the spares, and warmed up on each spare: what a
// tenant's store dials before its first answer (its writes, its reads,
// and a second writer for its seed check).
const warmConns = 3

func (ts *tenants) kickSpares() {
	select {
	case ts.spareKick <- struct{}{}:
	default:
	}
}

// spareLoop keeps --tenant-spares spares until ctx ends: after start-up and
// whenever one is taken.
func (ts *tenants) spareLoop(ctx context.Context) {
	want := ts.root.Config.TenantSpares
	mine, all, err := ts.spareKind()
	if err != nil {
		ts.root.Log.Error("spare tenant schemas", "error", err)
		return
	}
	db := ts.root.Config.DB
	stop, err := store.KeepWarm(db, warmConns)
	if err != nil {
		ts.root.Log.Error("keeping connections dialled ahead", "error", err)
	} else {
		defer stop()
	}
	for {
		ts.sweepAbandoned(ctx)
		for ctx.Err() == nil {
			have, err := ts.catalog().List(ctx, all)
			if err != nil {
				break
			}
			store.ForgetWarm(db, all, have) // the spares another replica took or dropped
			n := 0
			for _, sp := range have {
				if n < want && strings.HasPrefix(sp, mine) {
					n++
					// Its connections, made again if they went (a restart,
					// the server's), or never were (another replica made it).
					if err := store.Prewarm(ctx, store.WithSchema(db, sp), warmConns); err != nil && ctx.Err() == nil {
						ts.root.Log.Warn("warming connections up on a spare tenant schema", "schema", sp, "error", err)
					}
					continue
				}
				ts.dropSpare(ctx, sp) // another bank's, or one too many
			}
			if n >= want {
				break
			}
			if err := ts.makeSpare(ctx, mine); err != nil {
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
// its data key and first signing key made) and closed, then renamed as a spare.
func (ts *tenants) makeSpare(ctx context.Context, prefix string) error {
	db := ts.root.Config.DB
	id := make([]byte, 6)
	rand.Read(id)
	making := store.WithSchema(db, makingName(db, ts.wall(), id))
	cfg := ts.root.Config
	cfg.DB, cfg.Reset, cfg.AdminToken, cfg.small, cfg.cold = making, false, "", true, true
	a := &App{Config: cfg, Log: ts.root.Log.With("spare", store.SchemaOf(making)), Clock: clock.New(cfg.Wall), CA: ts.root.CA,
		URL: ts.root.URL, specs: ts.root.specs}
	// The spare is nobody's doing: not the root's background work either
	// (the tenant's audit trail must not start with the root's entries).
	octx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	err := a.open(octx)
	if err == nil { // its first signing key too: an RSA key is made off the tenant's path
		_, err = a.loadKeys(octx)
	}
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil { // connections of its own, for the tenant that takes it (they follow its renames)
		if werr := store.Prewarm(ctx, making, warmConns); werr != nil && ctx.Err() == nil {
			ts.root.Log.Warn("warming connections up on a spare tenant schema", "error", werr)
		}
	}
	if err == nil {
		err = ts.catalog().Rename(ctx, store.SchemaOf(making), prefix+hex.EncodeToString(id))
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		ts.catalog().Drop(dctx, store.SchemaOf(making))
	}
	return err
}
