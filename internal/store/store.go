package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/keyring"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the sandbox's database. Safe for concurrent use.
type Store struct {
	path string
	temp bool    // a private file behind ":memory:", removed on Close
	w    *sql.DB // exactly one connection: all writes
	r    *sql.DB // read-only pool
	rc   *cached // the read pool's prepared statements
	lock *os.File
	// auditKey keys the audit trail's chains; keyID names it.
	auditKey []byte
	keyID    string
	sync     string // the bank's commits: SyncFull or SyncNormal
	syncNow  string // the writer connection's current setting
	// version moves on after every write that may change what the hot
	// reads return (see memo).
	version atomic.Uint64
	memo    memo
	// catching lets one catch-up write at a time (CatchUp).
	catching sync.Mutex
	Version  int // schema version after migration
	// pg is the PostgreSQL backend; nil on SQLite.
	pg *pgBackend
	// group queues SQLite's writes for group commit (group.go).
	group committer
	// seal holds the data keys that seal secrets at rest (seal.go).
	seal sealer
	// hook is told what the audit trail gains as it commits (OnCommit).
	hook atomic.Pointer[CommitHook]
}

// Memory is the path that asks for a private, throw-away database.
const Memory = ":memory:"

// Options say how to open a store.
type Options struct {
	// Key keys the audit trail (nil: a key that lives only in memory, for a
	// throw-away database). A database chained under another key is refused.
	Key *keyring.Keyring
	// Sync is how the bank's commits reach the disk: SyncFull (the default)
	// or SyncNormal.
	Sync string
	// Inspect opens a database another process may be serving, to read it:
	// no writer lock, no migrations, no anchors; writes fail.
	Inspect bool
	// MaxConns bounds each of the two PostgreSQL connection pools (writes,
	// reads); 0: 8. Up to four more serve the shared rate limits and two
	// the catalog (Store.Catalog).
	// SQLite has one writer and its own reader pool.
	MaxConns int
	// Small is for one of many databases open at once (a tenant): on
	// SQLite two readers with a small page cache each, on PostgreSQL at
	// most two connections a pool and one aside.
	Small bool
	// Cold dials every connection on PostgreSQL: none of those KeepWarm
	// keeps for the stores a request waits for (a spare being made).
	Cold bool
	// Seeded is a PSU's test credential from the fixtures, if it has one:
	// opening a database written before passwords were hashed keeps no
	// trace of such a password (nil: every password is hashed).
	Seeded func(username string) (string, bool)
}

// Sync settings. In WAL mode SQLite's synchronous=NORMAL loses no commit
// when the process dies (kill -9), but may lose the last ones when the
// machine does (power loss, kernel crash); FULL syncs the log at every
// commit and loses nothing. The bank's writes use the setting chosen; the
// audit trail's request entries and the event outbox, written all the time
// and recoverable, use NORMAL: a later FULL commit syncs them too.
const (
	SyncFull   = "full"
	SyncNormal = "normal"
)

// ErrInUse is a database file another sandbox process is serving.
var ErrInUse = errors.New("the database is in use by another sandbox process")

func dsn(path string, readOnly bool) string { return dsnCache(path, readOnly, 8000) }

// dsnCache is dsn with a page cache of cacheKiB per connection.
func dsnCache(path string, readOnly bool, cacheKiB int) string {
	q := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_pragma=cache_size(-" + strconv.Itoa(cacheKiB) + ")&_pragma=temp_store(MEMORY)"
	if readOnly {
		q += "&_pragma=query_only(1)"
	} else {
		q += "&_txlock=immediate"
	}
	return "file:" + path + "?" + q
}

// Open opens (creating if needed) the database at path and migrates it.
// Memory gives a private database in a temporary file that Close removes:
// every connection of the pool must see the same data, which SQLite's own
// in-memory databases do not allow together with WAL.
//
// One process at a time serves a file: Open takes an exclusive lock on
// path+".lock" (ErrInUse when another process holds it), released by Close.
//
// A path that IsPostgres names a PostgreSQL database instead (see pg.go):
// any number of processes may serve it together.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	s := &Store{path: path, sync: o.Sync, syncNow: SyncNormal}
	key := o.Key
	if key == nil {
		key = keyring.New() // a throw-away database: a throw-away key
	}
	s.auditKey, s.keyID = key.Derive("audit-chain"), key.ID()
	if o.Key != nil || !o.Inspect {
		s.seal.wrapper = key // inspecting without the key file: secrets stay sealed
	}
	if s.sync == "" {
		s.sync = SyncFull
	}
	if s.sync != SyncFull && s.sync != SyncNormal {
		return nil, fmt.Errorf("sync must be %s or %s, not %q", SyncFull, SyncNormal, o.Sync)
	}
	if IsPostgres(path) {
		if err := s.openPG(ctx, path, o); err != nil {
			s.Close()
			return nil, fmt.Errorf("open %s: %w", Redacted(path), err)
		}
		if err := s.openSecrets(ctx, o); err != nil {
			s.Close()
			return nil, fmt.Errorf("open %s: %w", Redacted(path), err)
		}
		return s, nil
	}
	if path == Memory || path == "" {
		dir, err := os.MkdirTemp("", "sandbox-mem-")
		if err != nil {
			return nil, err
		}
		s.path, s.temp = filepath.Join(dir, "sandbox.db"), true
	}
	var err error
	if !o.Inspect {
		if s.lock, err = lockFile(s.path + ".lock"); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	cacheKiB, readers := 8000, max(4, 2*runtime.GOMAXPROCS(0))
	if o.Small {
		cacheKiB, readers = 1000, 2
	}
	if s.w, err = sql.Open(writerDriverName, dsnCache(s.path, o.Inspect, cacheKiB)); err != nil {
		s.Close()
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if o.Inspect {
		err = s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&s.Version)
	} else if err = s.migrate(ctx); err == nil {
		err = s.initChains(ctx, time.Now())
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if s.r, err = sql.Open(driverName, dsnCache(s.path, true, cacheKiB)); err != nil {
		s.Close()
		return nil, err
	}
	s.rc = newCached(s.r, s.system())
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	if err := s.openSecrets(ctx, o); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// openSecrets checks the data keys against the key given and seals what
// an older database held in the clear (not when inspecting).
func (s *Store) openSecrets(ctx context.Context, o Options) error {
	if o.Inspect {
		return nil
	}
	if err := s.checkDataKeys(ctx); err != nil {
		return err
	}
	return s.sealOnOpen(ctx, o.Seeded)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close checkpoints the WAL and closes every connection. Nothing committed
// is lost: SQLite's WAL is durable at commit.
func (s *Store) Close() error {
	var errs []error
	if s.pg != nil && s.pg.watch != nil {
		s.pg.watch.stop(s)
		s.pg.watch = nil
	}
	if s.pg != nil && s.pg.aside != nil {
		errs = append(errs, s.pg.aside.Close(), s.pg.catalog.Close())
		s.pg.aside, s.pg.catalog = nil, nil
	}
	if s.rc != nil {
		s.rc.close()
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
		s.r = nil
	}
	if s.w != nil && s.lock != nil {
		_, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, err)
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	if s.lock != nil {
		errs = append(errs, unlockFile(s.lock))
		s.lock = nil
	}
	if s.temp {
		errs = append(errs, os.RemoveAll(filepath.Dir(s.path)))
	}
	return errors.Join(errs...)
}

// migrate applies, in one transaction each, the embedded migrations newer than
// the file's user_version.
func (s *Store) migrate(ctx context.Context) error {
	var have int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	names, nums, err := migrationFiles(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	for i, name := range names {
		n := nums[i]
		if n <= have {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n))
			return err
		})
		if err != nil {
			return err
		}
		have = n
	}
	s.Version = have
	return nil
}

// write runs f in an IMMEDIATE transaction on the writer connection, synced
// as the store's Sync says; when ctx has an actor (WithActor) and f changes
// rows, their audit entry commits with them. Once it commits, what the hot
// reads remembered is stale.
func (s *Store) write(ctx context.Context, f func(*sql.Tx) error) (err error) {
	ctx, end := traced(ctx, "write", s.system())
	defer func() { end(err) }()
	var rec []*AuditEntry
	if actorOf(ctx) != nil {
		f = s.recordingChanges(ctx, callerOp(), f, &rec)
	}
	err = s.commit(ctx, s.sync, "", f)
	s.version.Add(1) // also after a failure: a commit may have landed anyway
	if err == nil {
		s.committed(rec, nil)
	}
	return err
}

// writeLog is write for the tables no remembered read depends on and that
// the bank does not need synced at every commit: the audit trail's request
// entries and the event outbox, written all the time under load.
func (s *Store) writeLog(ctx context.Context, f func(*sql.Tx) error) error {
	return s.commit(ctx, SyncNormal, logWrite, f)
}

// logWrite is commit's notice for a write no remembered read depends on.
const logWrite = "log"

// commit runs f in a write transaction. On PostgreSQL the transaction first
// takes the schema's write lock and, unless notice is logWrite, tells the
// other replicas what it changes ("" the bank's state, "setting:KEY").
func (s *Store) commit(ctx context.Context, sync, notice string, f func(*sql.Tx) error) error {
	if s.pg == nil {
		return s.commitGrouped(ctx, sync, f)
	}
	return s.commitConn(ctx, sync, notice, func(_ *sql.Conn, tx *sql.Tx) error { return f(tx) })
}

// commitConn is commit for work that also needs the transaction's
// connection (a bulk copy).
func (s *Store) commitConn(ctx context.Context, sync, notice string, f func(*sql.Conn, *sql.Tx) error) error {
	if s.pg != nil {
		return s.commitPG(ctx, notice, f)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	return s.commitOn(ctx, conn, sync, f)
}

// commitOn is commitConn on SQLite, on the writer connection conn (held by
// the caller, who may have prepared it: a database attached).
func (s *Store) commitOn(ctx context.Context, conn *sql.Conn, sync string, f func(*sql.Conn, *sql.Tx) error) error {
	// The one writer connection is held from here to the commit, so the
	// setting cannot change under another transaction.
	if sync != s.syncNow {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+sync); err != nil {
			s.syncNow = ""
			return translate(err)
		}
		s.syncNow = sync
	}
	err := func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := f(conn, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		s.syncNow = "" // the connection may have been replaced: set it again
	}
	return translate(err)
}

// commitPG is commit on PostgreSQL.
func (s *Store) commitPG(ctx context.Context, notice string, f func(*sql.Conn, *sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if notice == logWrite {
		_, err = tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", s.pg.lock)
	} else {
		_, err = tx.ExecContext(ctx, notifySQL, s.pg.lock, s.channel(), s.pg.origin()+" "+notice)
	}
	if err == nil {
		err = f(conn, tx)
	}
	if err != nil {
		tx.Rollback()
		return translate(err)
	}
	return translate(tx.Commit())
}

// read runs f in a read transaction (one consistent snapshot).
func (s *Store) read(ctx context.Context, f func(*sql.Tx) error) (err error) {
	ctx, end := traced(ctx, "read", s.system())
	defer func() { end(err) }()
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg != nil {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	return translate(f(tx))
}

// readEach runs f's reads on the read pool's prepared statements, each
// seeing the latest commit: for the hot paths, which need no snapshot
// across their statements (a page's count and rows may straddle a commit;
// nothing is ever half written).
func (s *Store) readEach(ctx context.Context, f func(querier) error) error {
	return translate(f(s.rc))
}

// translate maps driver errors to the bank's: no rows -> ErrNotFound, a
// UNIQUE or PRIMARY KEY violation -> ErrConflict.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return bank.ErrNotFound
	}
	if errors.Is(err, errConflict) {
		return err
	}
	if err = pgError(err); errors.Is(err, errConflict) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", errConflict, err)
		}
	}
	return err
}

// Setting reads a key of the settings table; ErrNotFound when absent.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.rc.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err != nil || !secretSettings[key] {
		return v, translate(err)
	}
	plain, err := s.open(ctx, column("settings", "value"), key, v)
	return string(plain), err
}

// SetSetting writes a key of the settings table; other processes sharing
// the database learn of it (OnSetting). Secret settings are sealed.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	f := func(tx *sql.Tx) error {
		v := value
		if secretSettings[key] {
			var err error
			if v, err = s.sealIn(ctx, tx, column("settings", "value"), key, []byte(value)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, v)
		return err
	}
	var rec []*AuditEntry
	if actorOf(ctx) != nil {
		f = s.recordingChanges(ctx, "SetSetting", f, &rec)
	}
	err := s.commit(ctx, s.sync, "setting:"+key, f)
	s.version.Add(1)
	if err == nil {
		s.committed(rec, nil)
	}
	return err
}

// errConflict is bank.ErrConflict, as translate wraps it.
var errConflict = bank.ErrConflict

// Ping checks that both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	return errors.Join(s.w.PingContext(ctx), s.r.PingContext(ctx))
}

// stateTables are what a reset clears besides the bank: everything clients
// did, except registering (clients and the bank's keys survive a reset).
// Used assertion ids stay: the clients that used them survive the reset, as
// do their event subscriptions; the events themselves go with the consents
// and payments they were about.
var stateTables = []string{"consents", "tokens", "auth_codes", "par_requests", "psu_logins", "auth_requests", "psu_sessions", "ciba_requests",
	"payments", "idempotency", "funds_confirmations", "event_deliveries", "event_outbox", "payment_files", "file_instructions"}

// ResetState clears every consent, token, code, session and lockout.
func (s *Store) ResetState(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		tables := stateTables
		if s.pg != nil {
			tables = append(slices.Clone(tables), "rate_buckets")
		}
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Ready checks that the database answers and holds the schema this binary
// migrates to (a replica started by an older binary, or a schema another
// one has not finished migrating, is not ready).
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	want := LatestVersion()
	var have int
	var err error
	if s.pg != nil {
		have, err = s.pgVersion(ctx)
	} else {
		err = s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have)
	}
	if err != nil {
		return err
	}
	if have != want {
		return fmt.Errorf("schema version %d, want %d", have, want)
	}
	return nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int { return latest(migrations, "migrations/*.sql") }

// migrationFiles is the migrations in fsys matching pattern, in order, and
// their numbers (a file's name begins with its number).
func migrationFiles(fsys fs.FS, pattern string) ([]string, []int, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	nums := make([]int, len(names))
	for i, name := range names {
		if nums[i], err = strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0]); err != nil {
			return nil, nil, fmt.Errorf("migration %s: no number", name)
		}
	}
	return names, nums, nil
}

// latest is the number of the last migration in fsys matching pattern.
func latest(fsys fs.FS, pattern string) int {
	_, nums, _ := migrationFiles(fsys, pattern)
	if len(nums) == 0 {
		return 0
	}
	return nums[len(nums)-1]
}
