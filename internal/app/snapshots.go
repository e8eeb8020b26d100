package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/handlers"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Snapshots live next to the database, in <db>.snapshots/<name>.db.

var snapshotName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// Snapshot is a saved copy of the sandbox.
type Snapshot = handlers.Snapshot

func (a *App) snapshotDir() string { return a.Store.Path() + ".snapshots" }

func (a *App) snapshotPath(name string) (string, error) {
	if store.IsPostgres(a.Config.DB) {
		return "", bank.Errorf(bank.KindConflict, "name", "snapshots are SQLite files: a sandbox on PostgreSQL has none yet")
	}
	if !snapshotName.MatchString(name) || strings.Contains(name, "..") {
		return "", bank.Errorf(bank.KindFieldInvalid, "name", "a snapshot name is 1 to 64 letters, digits, '.', '_' or '-'")
	}
	return filepath.Join(a.snapshotDir(), name+".db"), nil
}

// SaveSnapshot copies the whole sandbox — bank, clients, consents, tokens,
// payments, clock, scenarios — to a named snapshot, online.
func (a *App) SaveSnapshot(ctx context.Context, name string) (Snapshot, error) {
	path, err := a.snapshotPath(name)
	if err != nil {
		return Snapshot{}, err
	}
	if err := os.MkdirAll(a.snapshotDir(), 0o755); err != nil {
		return Snapshot{}, err
	}
	if err := a.Store.Snapshot(ctx, path); err != nil {
		if errors.Is(err, bank.ErrConflict) {
			return Snapshot{}, bank.Errorf(bank.KindConflict, "name", "snapshot %s exists: delete it first", name)
		}
		return Snapshot{}, err
	}
	return statSnapshot(name, path)
}

func statSnapshot(name, path string) (Snapshot, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Name: name, Bytes: fi.Size(), CreatedAt: fi.ModTime().UTC()}, nil
}

// RestoreSnapshot puts the sandbox back to a snapshot: every table but the
// audit trail, then what the running sandbox holds in memory (clock offset,
// scenarios, signing keys).
func (a *App) RestoreSnapshot(ctx context.Context, name string) error {
	path, err := a.snapshotPath(name)
	if err != nil {
		return err
	}
	// The clock goes back first: the sandbox keeps moving payments along
	// while the restore runs, and must never apply the present's clock to
	// the snapshot's state.
	off, err := store.SnapshotSetting(ctx, path, "clock_offset")
	if errors.Is(err, bank.ErrNotFound) {
		if _, statErr := os.Stat(path); statErr != nil {
			return bank.Errorf(bank.KindNotFound, "name", "no snapshot %s", name)
		}
		off, err = "0s", nil
	}
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(off)
	if err != nil {
		return fmt.Errorf("snapshot %s: settings.clock_offset: %w", name, err)
	}
	a.Clock.Reset()
	a.Clock.SetOffset(d)
	if err := a.Store.Restore(ctx, path); err != nil {
		return errors.Join(err, a.reload(ctx)) // the clock as the live database has it
	}
	return a.reload(ctx)
}

// reload reads back what the running sandbox keeps in memory.
func (a *App) reload(ctx context.Context) error {
	a.Clock.Reset()
	if off, err := a.Store.Setting(ctx, "clock_offset"); err == nil {
		d, err := time.ParseDuration(off)
		if err != nil {
			return fmt.Errorf("settings.clock_offset: %w", err)
		}
		a.Clock.SetOffset(d)
	}
	saved, err := a.Store.Setting(ctx, "scenarios")
	if err != nil && !errors.Is(err, bank.ErrNotFound) {
		return err
	}
	if err := a.Scenarios.Load([]byte(saved)); err != nil {
		return err
	}
	return a.Auth.ReloadKeys(ctx)
}

// Snapshots lists the saved snapshots, by name.
func (a *App) Snapshots() ([]Snapshot, error) {
	entries, err := os.ReadDir(a.snapshotDir())
	if errors.Is(err, os.ErrNotExist) {
		return []Snapshot{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".db")
		if !ok || !snapshotName.MatchString(name) {
			continue
		}
		if s, err := statSnapshot(name, filepath.Join(a.snapshotDir(), e.Name())); err == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteSnapshot removes a snapshot.
func (a *App) DeleteSnapshot(name string) error {
	path, err := a.snapshotPath(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); errors.Is(err, os.ErrNotExist) {
		return bank.Errorf(bank.KindNotFound, "name", "no snapshot %s", name)
	} else if err != nil {
		return err
	}
	return nil
}
