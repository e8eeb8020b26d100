package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// flaky is a log that refuses the first fails commits.
type flaky struct {
	mu        sync.Mutex
	fails     int
	attempts  int
	committed []store.AuditEntry
	refused   []store.Refused
}

func (f *flaky) AppendAudit(_ context.Context, es []*store.AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.attempts <= f.fails {
		return errors.New("database is locked")
	}
	for _, e := range es {
		f.committed = append(f.committed, *e)
	}
	return nil
}

func (f *flaky) RaiseEvent(context.Context, *store.SecurityEvent) error { return nil }

func (f *flaky) AddRefused(_ context.Context, counts []store.Refused) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused = append(f.refused, counts...)
	return nil
}

// A batch that fails to commit is tried again; the waiter is answered, and
// the subscribers see the entry, only once it is in the log. One that never
// commits is shown to nobody.
func TestAuditWriteTriesAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fails     int
		committed bool
	}{
		{"commits at once", 0, true},
		{"commits on the third attempt", 2, true},
		{"never commits", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &flaky{fails: tc.fails}
			a := New(log, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			a.retry = []time.Duration{0, 0, 0} // three more attempts, no waiting
			defer a.Close()
			sub, cancel := a.Subscribe()
			defer cancel()
			a.Record(&store.AuditEntry{ClientID: "c1", Path: "/pay", Status: 201}, true) // returns once written (or given up)
			log.mu.Lock()
			attempts, committed := log.attempts, len(log.committed)
			log.mu.Unlock()
			if want := min(tc.fails+1, 4); attempts != want {
				t.Errorf("%d attempts, want %d", attempts, want)
			}
			if (committed == 1) != tc.committed {
				t.Errorf("%d entries committed, want committed=%v", committed, tc.committed)
			}
			select {
			case e := <-sub:
				if !tc.committed {
					t.Errorf("an entry that never committed was published: %+v", e)
				}
			default:
				if tc.committed {
					t.Error("a committed entry was not published before the waiter was answered")
				}
			}
		})
	}
}
