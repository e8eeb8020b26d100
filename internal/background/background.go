// Package background runs the sandbox's background work — settlement, event
// delivery, the audit writer, closing idle tenants — so that a panic in one
// piece is logged with its stack and the work goes on. An unrecovered panic in
// any goroutine ends the whole process, every tenant with it.
package background

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Loop runs f until it returns. When f panics, the panic is logged and f runs
// again: at once the first time, then after a pause that doubles with each
// panic up to a minute (a task that fails every time neither spins nor floods
// the log), until ctx ends.
func Loop(ctx context.Context, log *slog.Logger, name string, f func(context.Context)) {
	var pause time.Duration
	for {
		started := time.Now()
		if Catch(log, name, func() error { f(ctx); return nil }) == nil {
			return
		}
		if time.Since(started) > maxPause {
			pause = 0 // it had worked for a while: not a crash loop
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("background task restarted", "task", name)
		pause = min(max(2*pause, minPause), maxPause)
	}
}

const (
	minPause = 100 * time.Millisecond
	maxPause = time.Minute
)

// Catch runs f and returns its error; a panic in f is logged with its stack
// and returned as an error instead of ending the process.
func Catch(log *slog.Logger, name string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("background task panicked", "task", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: panic: %v", name, v)
		}
	}()
	return f()
}
