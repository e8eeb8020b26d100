package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// What goes wrong at start, said so that the next step is clear.

// listenError explains why the sandbox cannot listen at addr.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		next := "127.0.0.1:8081"
		if host, port, e := net.SplitHostPort(addr); e == nil {
			if n, e := strconv.Atoi(port); e == nil && n > 0 && n < 65535 {
				next = net.JoinHostPort(host, strconv.Itoa(n+1))
			}
		}
		return fmt.Errorf("--addr %s is in use (another sandbox?): stop what listens there, or give another address: --addr %s (SANDBOX_ADDR)", addr, next)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("--addr %s: not allowed to listen there (ports below 1024 need privileges): give another, e.g. --addr 127.0.0.1:8080", addr)
	}
	return fmt.Errorf("--addr %s: %w", addr, err)
}

// pathProblem says what is wrong with a --db path before anything is
// created beside it (its key file, its lock): a folder, or a missing folder.
func pathProblem(path string) error {
	if path == store.Memory || path == "" || store.IsPostgres(path) {
		return nil
	}
	if fi, e := os.Stat(path); e == nil && fi.IsDir() {
		return fmt.Errorf("--db %s is a folder: give a file, e.g. --db %s", path, filepath.Join(path, "sandbox.db"))
	}
	if _, e := os.Stat(filepath.Dir(path)); errors.Is(e, fs.ErrNotExist) {
		return fmt.Errorf("--db %s: the folder %s does not exist: create it first, or give another --db", path, filepath.Dir(path))
	}
	return nil
}

// dbError explains why the database at path cannot be opened: SQLite's own
// words ("unable to open database file (14)") do not say which of the
// usual reasons it is.
func dbError(path string, err error) error {
	if p := pathProblem(path); p != nil {
		return p
	}
	if store.IsPostgres(path) {
		return fmt.Errorf("--db %s: %w", store.Redacted(path), err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("--db %s is not a SQLite database (some other file?): give another --db, or move the file away", path)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
			return fmt.Errorf("--db %s cannot be opened for writing: the file and its folder must be writable by this user (%w)", path, err)
		}
	}
	return fmt.Errorf("--db %s: %w", path, err)
}

// serverRecord is where the last sandbox served its database: the CLI's
// commands that act on the file find the running sandbox, and print the
// URLs its clients use.
type serverRecord struct {
	URL    string `json:"url"`    // where it listens, as this machine reaches it
	Issuer string `json:"issuer"` // its public base URL
}

func recordServer(ctx context.Context, s *store.Store, url, issuer string) error {
	b, _ := json.Marshal(serverRecord{URL: url, Issuer: issuer})
	return s.SetSetting(ctx, "server", string(b))
}

// recordedServer is the record of the sandbox that last served s; the zero
// record when none did.
func recordedServer(ctx context.Context, s *store.Store) (serverRecord, error) {
	var r serverRecord
	raw, err := s.Setting(ctx, "server")
	if errors.Is(err, bank.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal([]byte(raw), &r)
}
