// Package audit keeps the sandbox's audit trail and watches it: every
// security decision is appended to a keyed hash chain in the store (group
// commit: entries queue and are written in batches; a state change's own
// entry is written by the store in the change's transaction), refused
// traffic from callers who proved nothing is counted rather than stored,
// anomaly rules raise security events from the stream, and subscribers
// (the trainer view) receive it live. The chain's head can be signed with
// the bank's key and saved elsewhere, to show truncation later.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/internal/background"
	"github.com/obsandbox/sandbox/internal/store"
)

// Store is where the auditor writes: the sandbox's store.
type Store interface {
	AppendAudit(ctx context.Context, entries []*store.AuditEntry) error
	RaiseEvent(ctx context.Context, ev *store.SecurityEvent) error
	AddRefused(ctx context.Context, counts []store.Refused) error
}

// Auditor writes entries and fans them out.
type Auditor struct {
	store    Store
	retry    []time.Duration // the waits between attempts at a batch that failed to commit
	log      *slog.Logger
	detector *Detector
	queue    chan item
	done     chan struct{}

	mu   sync.Mutex
	subs map[chan store.AuditEntry]struct{}

	// Refused traffic counted since the last write of the counts (owned by
	// the run goroutine).
	refused     map[refusedKey]int64
	refusedAt   time.Time     // when the counts were last written
	refusedKeys map[int64]int // distinct pairs counted per minute
	lastMinute  int64
}

type refusedKey struct {
	minute       int64
	source, rule string
}

// MaxRefusedSources bounds the distinct (source, rule) pairs counted per
// minute; past it, traffic is counted under the source "other".
const MaxRefusedSources = 1000

type item struct {
	e     *store.AuditEntry
	count bool          // counted, not stored
	done  chan struct{} // closed once committed; nil when nobody waits
}

// New starts an auditor; Close flushes and stops it.
func New(s Store, log *slog.Logger, d *Detector) *Auditor {
	a := &Auditor{store: s, retry: retryWaits, log: log, detector: d, queue: make(chan item, 4096), done: make(chan struct{}),
		subs: map[chan store.AuditEntry]struct{}{}, refused: map[refusedKey]int64{}, refusedKeys: map[int64]int{}}
	go func() {
		defer close(a.done)
		background.Loop(context.Background(), log, "audit writer", func(context.Context) { a.run() })
	}()
	return a
}

// Record queues an entry. With wait it returns once the entry is committed.
func (a *Auditor) Record(e *store.AuditEntry, wait bool) {
	it := item{e: e}
	if wait {
		it.done = make(chan struct{})
	}
	a.queue <- it
	if wait {
		<-it.done
	}
}

// Count counts a refused (or public) request from a caller who proved
// nothing: the anomaly rules and the subscribers see it, the store keeps
// only its count per minute, source and rule.
func (a *Auditor) Count(e *store.AuditEntry) { a.queue <- item{e: e, count: true} }

// Flush returns once everything recorded before it is committed (and
// counted) and seen by the anomaly rules.
func (a *Auditor) Flush() { a.Record(nil, true) }

// run writes what is queued in one transaction. A batch that someone waits
// on (a request that changed state) is written as soon as it is there;
// otherwise entries gather for up to gatherFor, so that under load one
// commit carries many of them (commits were an eighth of the CPU).
func (a *Auditor) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for it := range a.queue {
		batch := []item{it}
		waited := it.done != nil
		if !waited {
			timer.Reset(gatherFor)
		}
	more:
		for len(batch) < maxBatch {
			if waited {
				select {
				case next, ok := <-a.queue:
					if !ok {
						break more
					}
					batch = append(batch, next)
				default:
					break more
				}
				continue
			}
			select {
			case next, ok := <-a.queue:
				if !ok {
					break more
				}
				batch = append(batch, next)
				waited = next.done != nil
			case <-timer.C:
				break more
			}
		}
		if !timer.Stop() {
			select { // drain a fired timer so Reset starts afresh
			case <-timer.C:
			default:
			}
		}
		a.write(batch)
	}
}

const (
	gatherFor = 2 * time.Millisecond
	maxBatch  = 1000
)

// retryWaits space the attempts at a batch that did not commit (the
// database busy past its timeout, a full disk): some 4 s in all, while the
// requests waiting for it wait too.
var retryWaits = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second, 3 * time.Second}

// write commits a batch, trying again while it fails, shows it to the
// anomaly rules and the subscribers, then tells the waiters. A batch that
// never commits is logged as lost and shown to nobody.
func (a *Auditor) write(batch []item) {
	// Waiters learn of the commit after the anomaly rules have seen it, and
	// are let go even if writing panics (the writer then starts again).
	defer func() {
		for _, b := range batch {
			if b.done != nil {
				close(b.done)
			}
		}
	}()
	entries := make([]*store.AuditEntry, 0, len(batch))
	var shown, counted []*store.AuditEntry // in the order they came
	flush := false
	for _, b := range batch {
		switch {
		case b.e == nil:
			flush = true
			continue
		case b.count:
			a.countRefused(b.e)
			counted = append(counted, b.e)
		default:
			entries = append(entries, b.e)
		}
		shown = append(shown, b.e)
	}
	if len(a.refused) > 0 && (flush || time.Since(a.refusedAt) > refusedEvery) {
		a.writeRefused()
	}
	if len(entries) == 0 {
		a.publish(shown)
	} else {
		err := a.store.AppendAudit(context.Background(), entries)
		for _, wait := range a.retry {
			if err == nil {
				break
			}
			a.log.Warn("writing the audit log; trying again", "error", err, "entries", len(entries), "in", wait)
			time.Sleep(wait)
			err = a.store.AppendAudit(context.Background(), entries)
		}
		if err != nil {
			a.log.Error("audit entries lost: the log did not commit", "error", err, "entries", len(entries))
			a.publish(counted)
		} else {
			a.publish(shown)
		}
	}
}

// refusedEvery is how often counted traffic is written.
const refusedEvery = 10 * time.Second

func (a *Auditor) countRefused(e *store.AuditEntry) {
	minute := e.At.Unix() / 60
	a.lastMinute = max(a.lastMinute, minute)
	k := refusedKey{minute: minute, source: e.IP, rule: fmt.Sprintf("%d %s", e.Status, e.Rule)}
	if _, ok := a.refused[k]; !ok {
		if a.refusedKeys[minute] >= MaxRefusedSources {
			k.source = "other"
		} else {
			a.refusedKeys[minute]++
		}
	}
	a.refused[k]++
}

func (a *Auditor) writeRefused() {
	counts := make([]store.Refused, 0, len(a.refused))
	for k, n := range a.refused {
		counts = append(counts, store.Refused{Minute: time.Unix(k.minute*60, 0), Source: k.source, Rule: k.rule, N: n})
	}
	if err := a.store.AddRefused(context.Background(), counts); err != nil {
		a.log.Error("counting refused traffic", "error", err)
		return // kept, tried again with the next batch
	}
	clear(a.refused)
	for m := range a.refusedKeys {
		if m < a.lastMinute {
			delete(a.refusedKeys, m)
		}
	}
	a.refusedAt = time.Now()
}

// Named reports whether a rule is one only a caller who proved who it is
// can trip (a replayed code or assertion, a probe with a valid token): such
// refusals are kept entry by entry whoever made them.
func Named(rule string) bool {
	switch rule {
	case RuleCodeReused, RuleAssertionReplay, RuleRefreshReused:
		return true
	}
	return strings.HasPrefix(rule, "bola.")
}

func (a *Auditor) publish(entries []*store.AuditEntry) {
	for _, e := range entries {
		if a.detector != nil {
			for _, ev := range a.detector.Observe(*e) {
				ev.Evidence = slices.DeleteFunc(ev.Evidence, func(seq int64) bool { return seq == 0 }) // counted, not stored
				if err := a.store.RaiseEvent(context.Background(), &ev); err != nil {
					a.log.Error("raising a security event", "error", err)
				} else {
					a.log.Warn("security event", "rule", ev.Rule, "client_id", ev.ClientID, "severity", ev.Severity, "action", ev.Action)
				}
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for ch := range a.subs {
		for _, e := range entries {
			select {
			case ch <- *e:
			default: // a slow subscriber misses entries rather than stalling the bank
			}
		}
	}
}

// Subscribe returns a channel of committed entries and a cancel function.
func (a *Auditor) Subscribe() (<-chan store.AuditEntry, func()) {
	ch := make(chan store.AuditEntry, 256)
	a.mu.Lock()
	a.subs[ch] = struct{}{}
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		delete(a.subs, ch)
		a.mu.Unlock()
	}
}

// Close writes what is queued and stops. Record must not be called after.
func (a *Auditor) Close() {
	close(a.queue)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		a.log.Error("the audit log did not flush in 10 s")
	}
}
