package audit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// panicky is a log whose first commit panics (as the anomaly rules once did
// on a wrapped clock), then works.
type panicky struct {
	flaky
	once     sync.Once
	panicked chan struct{}
}

func (p *panicky) AppendAudit(ctx context.Context, es []*store.AuditEntry) error {
	p.once.Do(func() {
		close(p.panicked)
		panic("index out of range [-35]")
	})
	return p.flaky.AppendAudit(ctx, es)
}

// TestAuditorSurvivesPanic: a panic in the audit writer's goroutine is logged
// and the writer goes on with the next entries, instead of ending the process.
func TestAuditorSurvivesPanic(t *testing.T) {
	t.Parallel()
	st := &panicky{panicked: make(chan struct{})}
	var out bytes.Buffer
	var mu sync.Mutex
	a := New(st, slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), nil)), NewDetector(DefaultRules))
	a.Record(&store.AuditEntry{ClientID: "c1", Path: "/first", Status: 200}, false)
	<-st.panicked
	a.Record(&store.AuditEntry{ClientID: "c1", Path: "/second", Status: 200}, true) // returns once committed
	a.Close()
	st.mu.Lock()
	committed := st.committed
	st.mu.Unlock()
	if len(committed) != 1 || committed[0].Path != "/second" {
		t.Errorf("committed %+v, want the entry after the panic", committed)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), "background task panicked") || !strings.Contains(out.String(), "audit writer") {
		t.Errorf("the panic was not logged:\n%s", out.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestAuditWaiterReleasedOnPanic: a request waiting for its entry is let go
// when writing that entry's batch panics, rather than waiting for ever.
func TestAuditWaiterReleasedOnPanic(t *testing.T) {
	t.Parallel()
	st := &panicky{panicked: make(chan struct{})}
	a := New(st, slog.New(slog.DiscardHandler), nil)
	defer a.Close()
	done := make(chan struct{})
	go func() {
		a.Record(&store.AuditEntry{ClientID: "c1", Path: "/first", Status: 201}, true)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a failure, not a measurement: it hangs without the fix
		t.Fatal("the waiter of a batch whose write panicked is still waiting")
	}
}
