package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit: writes queued while one runs share its successor's
// transaction; in it, a write that fails, panics or whose caller gave up
// is rolled back alone and told so, and every other one is committed.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "group.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := func(key string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES(?, 'x')", key)
			return err
		}
	}
	has := func(key string) bool {
		_, err := s.Setting(ctx, key)
		return err == nil
	}

	c0 := s.group.commits.Load()
	// The first write holds the writer until the others are queued.
	release := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.commit(ctx, SyncFull, "", func(tx *sql.Tx) error {
			<-release
			return set("first")(tx)
		})
	}()
	for s.queued() != 0 || !s.leadingNow() { // the first is running, not queued
		time.Sleep(time.Millisecond)
	}
	const n = 12
	boom := errors.New("refused")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	type result struct {
		err      error
		panicked any
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { results[i].panicked = recover() }()
			key := fmt.Sprintf("k%d", i)
			f := set(key)
			wctx := ctx
			switch i % 4 {
			case 1: // writes, then fails: its row must go
				f = func(tx *sql.Tx) error {
					if err := set(key)(tx); err != nil {
						return err
					}
					return boom
				}
			case 2: // writes, then panics
				f = func(tx *sql.Tx) error {
					if err := set(key)(tx); err != nil {
						return err
					}
					panic("write " + key)
				}
			case 3: // its caller has given up before it runs
				wctx = cancelled
				f = func(tx *sql.Tx) error {
					_, err := tx.ExecContext(wctx, "INSERT INTO settings(key, value) VALUES(?, 'x')", key)
					return err
				}
			}
			results[i].err = s.commit(wctx, SyncFull, "", f)
		}()
	}
	for s.queued() < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil || !has("first") {
		t.Fatalf("the first write: %v, stored %v", err, has("first"))
	}
	for i, r := range results {
		key := fmt.Sprintf("k%d", i)
		switch i % 4 {
		case 0:
			if r.err != nil || r.panicked != nil || !has(key) {
				t.Errorf("%s: %v %v, stored %v; want committed", key, r.err, r.panicked, has(key))
			}
		case 1:
			if !errors.Is(r.err, boom) || has(key) {
				t.Errorf("%s: %v, stored %v; want its error and nothing stored", key, r.err, has(key))
			}
		case 2:
			if r.panicked != "write "+key || has(key) {
				t.Errorf("%s: panic %v, stored %v; want its panic again and nothing stored", key, r.panicked, has(key))
			}
		case 3:
			if !errors.Is(r.err, context.Canceled) || has(key) {
				t.Errorf("%s: %v, stored %v; want context.Canceled and nothing stored", key, r.err, has(key))
			}
		}
	}
	if c := s.group.commits.Load() - c0; c > 3 {
		t.Errorf("%d commits for 1 + %d writes queued together, want at most 3 (the first, then one group, maybe split)", c, n)
	}
}
