package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
)

// A write under an actor that changes rows commits its audit entry in the
// same transaction; one that changes nothing, or fails, leaves none.
func TestChangeCommitsWithItsEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), store.Options{Sync: store.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	actx := store.WithActor(ctx, func() store.AuditEntry {
		return store.AuditEntry{At: now, InteractionID: "iid-1", ClientID: "c1", Method: "POST", Path: "/consents"}
	})
	committed := func() []store.AuditEntry {
		es, err := s.Audit(ctx, store.AuditQuery{Decision: store.DecisionCommitted})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	c := &bank.Consent{ID: "aac-1", Kind: bank.ConsentAccountAccess, ClientID: "c1", Status: bank.StatusAwaitingAuthorisation, CreatedAt: now, StatusAt: now}
	if err := s.CreateConsent(actx, c); err != nil {
		t.Fatal(err)
	}
	es := committed()
	if len(es) != 1 || es[0].InteractionID != "iid-1" || es[0].ClientID != "c1" || !strings.HasPrefix(es[0].Detail, "CreateConsent: ") {
		t.Fatalf("got %+v, want one committed entry for CreateConsent", es)
	}
	if err := s.CreateConsent(actx, c); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("a second CreateConsent: got %v, want ErrConflict", err)
	}
	if _, err := s.CheckPSULogin(actx, "nobody", func(string) bool { return false }, now); err != nil {
		t.Fatal(err)
	}
	if es := committed(); len(es) != 1 {
		t.Errorf("a failed write and one that changed nothing added entries: %+v", es[1:])
	}
	if err := s.CreateConsent(ctx, &bank.Consent{ID: "aac-2", Kind: bank.ConsentAccountAccess, ClientID: "c1", Status: bank.StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now}); err != nil {
		t.Fatal(err)
	}
	if es := committed(); len(es) != 1 {
		t.Errorf("a write without an actor added an entry: %+v", es[1:])
	}
	if _, err := s.VerifyAudit(ctx, nil); err != nil {
		t.Error(err)
	}
}

// Retention prunes old entries and moves the anchor: the chain still
// verifies, the pruned entries are gone, later ones stay.
func TestPruneAuditKeepsTheChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), store.Options{Sync: store.SyncNormal, Key: keyring.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var es []*store.AuditEntry
	for i := range 10 {
		es = append(es, &store.AuditEntry{At: t0.Add(time.Duration(i) * time.Hour), Method: "GET", Path: "/x", Status: 200, Decision: "allowed", Rule: "ok"})
	}
	if err := s.AppendAudit(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseEvent(ctx, &store.SecurityEvent{At: t0, Rule: "r", Severity: "low", Summary: "old", Action: "alerted"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAudit(ctx, t0.Add(4*time.Hour), t0.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // four entries and the event
		t.Errorf("pruned %d, want 5", n)
	}
	left, _ := s.Audit(ctx, store.AuditQuery{})
	if len(left) != 6 || left[0].Seq != 5 {
		t.Fatalf("left %d entries from %d, want 6 from 5", len(left), left[0].Seq)
	}
	r, err := s.VerifyAudit(ctx, nil)
	if err != nil || r.Audit.From != 4 || r.Audit.Reason != "retention" || r.Audit.Entries != 6 {
		t.Errorf("verify after pruning: %+v, %v", r, err)
	}
	if err := s.AppendAudit(ctx, []*store.AuditEntry{{At: t0.Add(11 * time.Hour), Method: "GET", Path: "/y", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseEvent(ctx, &store.SecurityEvent{At: t0.Add(11 * time.Hour), Rule: "r", Severity: "low", Summary: "new", Action: "alerted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("verify after appending past a pruned chain: %v", err)
	}
}

// The bank's writes are synced as --sync says (FULL by default); the audit
// trail's request entries are written with NORMAL, which the next FULL
// commit syncs too.
func TestBankWritesSyncFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		sync string
		want int
	}{{"", 2}, {store.SyncFull, 2}, {store.SyncNormal, 1}} {
		s, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), store.Options{Sync: tc.sync})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, []*store.AuditEntry{{Method: "GET"}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.WriterSync(ctx); got != 1 {
			t.Errorf("sync %q: the audit trail's write ran with synchronous=%d, want 1", tc.sync, got)
		}
		if err := s.SetSetting(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.WriterSync(ctx); got != tc.want {
			t.Errorf("sync %q: a bank write ran with synchronous=%d, want %d", tc.sync, got, tc.want)
		}
		s.Close()
	}
	if _, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), store.Options{Sync: "sometimes"}); err == nil {
		t.Error("an unknown sync setting was accepted")
	}
}
