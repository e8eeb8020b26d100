package background

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log destination safe for the task's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoopRestartsAfterPanic: a background task that panics is logged, with
// its stack, and runs again; the process goes on.
func TestLoopRestartsAfterPanic(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	runs := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(context.Background(), log, "settlement", func(context.Context) {
			runs++
			if runs == 1 {
				var s []int
				_ = s[-runs+0] // index out of range, as a wrapped clock once caused
			}
		})
	}()
	<-done
	if runs != 2 {
		t.Errorf("the task ran %d times, want 2 (once more after its panic)", runs)
	}
	got := out.String()
	for _, want := range []string{"background task panicked", "task=settlement", "index out of range", "background_test.go", "background task restarted"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
}

// TestLoopStopsWithContext: a task that keeps panicking is restarted until
// its context ends, then Loop returns.
func TestLoopStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	Loop(ctx, slog.New(slog.DiscardHandler), "events", func(context.Context) {
		runs++
		if runs == 3 {
			cancel()
		}
		panic("always")
	})
	if runs != 3 {
		t.Errorf("ran %d times, want 3", runs)
	}
}

// TestCatch: an error passes through; a panic becomes one.
func TestCatch(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	want := errors.New("plain")
	if err := Catch(log, "x", func() error { return want }); err != want {
		t.Errorf("got %v, want %v", err, want)
	}
	if err := Catch(log, "delivery", func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "delivery: panic: boom") {
		t.Errorf("got %v, want the panic as an error", err)
	}
}
