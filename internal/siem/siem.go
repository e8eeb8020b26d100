package siem

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// Record is one committed audit entry or security event, as shipped.
type Record struct {
	Kind   string               `json:"kind"`             // "audit" | "security_event"
	Tenant string               `json:"tenant,omitempty"` // the tenant's name; "" at the root
	Audit  *store.AuditEntry    `json:"audit,omitempty"`
	Event  *store.SecurityEvent `json:"security_event,omitempty"`
}

// Record kinds.
const (
	KindAudit = "audit"
	KindEvent = "security_event"
)

// At is when the record happened.
func (r Record) At() time.Time {
	if r.Audit != nil {
		return r.Audit.At
	}
	return r.Event.At
}

// JSON is the record as one JSON object.
func (r Record) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}

// Sink is where records go: a file, a syslog collector.
type Sink interface {
	Name() string
	// Write ships a batch, in order; an error leaves the batch to try again.
	Write(ctx context.Context, batch []Record) error
	Close() error
}

// Source is what a feed re-reads dropped records from: the store.
type Source interface {
	Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error)
	SecurityEvents(ctx context.Context, clientID string) ([]store.SecurityEvent, error)
	RaiseEvent(ctx context.Context, ev *store.SecurityEvent) error
}

// Stats are what a streamer has done.
type Stats struct {
	Sinks      []string `json:"sinks"`
	Buffer     int      `json:"buffer"`     // the buffer's size, in records
	Queued     int      `json:"queued"`     // records in it now
	Shipped    int64    `json:"shipped"`    // records every sink has taken
	Dropped    int64    `json:"dropped"`    // records that found the buffer full
	Backfilled int64    `json:"backfilled"` // dropped records re-read from the trail and shipped
	Lost       int64    `json:"lost"`       // dropped records the trail no longer held
	Failures   int64    `json:"failures"`   // failed writes to a sink (retried)
}

// Streamer ships records from its feeds to its sinks.
type Streamer struct {
	sinks []Sink
	log   *slog.Logger
	queue chan item
	stop  chan struct{}
	done  chan struct{}
	// retry is the wait after a sink failed.
	retry time.Duration

	shipped, dropped, backfilled, lost, failures atomic.Int64
	// pending counts records taken in and not yet shipped (Flush).
	pending atomic.Int64
	// raising counts backlog events being raised (their records are not
	// taken in yet; Flush waits for them too).
	raising atomic.Int64

	mu    sync.Mutex
	feeds map[*Feed]struct{}
}

type item struct {
	feed *Feed
	rec  Record
}

// DefaultBuffer is the buffer's default size in records.
const DefaultBuffer = 4096

// New starts a streamer over sinks with a buffer of size records.
func New(sinks []Sink, size int, log *slog.Logger) *Streamer {
	if size <= 0 {
		size = DefaultBuffer
	}
	s := &Streamer{sinks: sinks, log: log, queue: make(chan item, size), stop: make(chan struct{}), done: make(chan struct{}),
		retry: time.Second, feeds: map[*Feed]struct{}{}}
	go s.run()
	return s
}

// Feed is one store's records (the root sandbox's, a tenant's).
type Feed struct {
	s      *Streamer
	tenant string
	src    Source

	mu           sync.Mutex
	missedAudit  []int64 // seqs dropped, to re-read
	missedEvents []int64
	raisedAt     time.Time // the last backlog event
	closed       bool
}

// Feed registers a store's records under a tenant name ("" the root); its
// Hook goes to store.OnCommit.
func (s *Streamer) Feed(tenant string, src Source) *Feed {
	f := &Feed{s: s, tenant: tenant, src: src}
	s.mu.Lock()
	s.feeds[f] = struct{}{}
	s.mu.Unlock()
	return f
}

// Close stops the feed (its store closes): what it missed is counted lost.
func (f *Feed) Close() {
	f.s.mu.Lock()
	delete(f.s.feeds, f)
	f.s.mu.Unlock()
	f.mu.Lock()
	f.closed = true
	f.s.lost.Add(int64(len(f.missedAudit) + len(f.missedEvents)))
	f.missedAudit, f.missedEvents = nil, nil
	f.mu.Unlock()
}

// Hook offers committed records to the streamer, never blocking: a record
// that finds the buffer full is remembered to be re-read later.
func (f *Feed) Hook(entries []store.AuditEntry, events []store.SecurityEvent) {
	var dropped int
	for i := range entries {
		if !f.offer(Record{Kind: KindAudit, Tenant: f.tenant, Audit: &entries[i]}) {
			f.mu.Lock()
			f.missedAudit = append(f.missedAudit, entries[i].Seq)
			f.mu.Unlock()
			dropped++
		}
	}
	for i := range events {
		if !f.offer(Record{Kind: KindEvent, Tenant: f.tenant, Event: &events[i]}) {
			f.mu.Lock()
			f.missedEvents = append(f.missedEvents, events[i].ID)
			f.mu.Unlock()
			dropped++
		}
	}
	if dropped > 0 {
		f.s.dropped.Add(int64(dropped))
		f.backlogEvent()
	}
}

func (f *Feed) offer(r Record) bool {
	f.s.pending.Add(1)
	select {
	case f.s.queue <- item{feed: f, rec: r}:
		return true
	default:
		f.s.pending.Add(-1)
		return false
	}
}

// backlogEvent raises a security event saying the SIEM falls behind, at
// most once a minute per feed, off the request path.
func (f *Feed) backlogEvent() {
	f.mu.Lock()
	if time.Since(f.raisedAt) < time.Minute || f.closed {
		f.mu.Unlock()
		return
	}
	f.raisedAt = time.Now()
	n := len(f.missedAudit) + len(f.missedEvents)
	f.mu.Unlock()
	f.s.raising.Add(1)
	go func() {
		defer f.s.raising.Add(-1)
		ev := &store.SecurityEvent{At: time.Now().UTC(), Rule: EventBacklog, Severity: "medium", Action: "alerted",
			Summary: "the SIEM stream fell behind: records dropped from its buffer are re-read from the audit trail (" + itoa(n) + " waiting)"}
		if err := f.src.RaiseEvent(context.Background(), ev); err != nil {
			f.s.log.Error("raising the SIEM backlog event", "error", err)
		}
	}()
}

// EventBacklog is the security event a SIEM falling behind raises.
const EventBacklog = "siem_backlog"

// Stats reports what the streamer has done.
func (s *Streamer) Stats() Stats {
	st := Stats{Buffer: cap(s.queue), Queued: len(s.queue), Shipped: s.shipped.Load(), Dropped: s.dropped.Load(),
		Backfilled: s.backfilled.Load(), Lost: s.lost.Load(), Failures: s.failures.Load()}
	for _, k := range s.sinks {
		st.Sinks = append(st.Sinks, k.Name())
	}
	return st
}

// run ships batches from the buffer; when the buffer is empty it re-reads
// what was dropped.
func (s *Streamer) run() {
	defer close(s.done)
	const maxBatch = 256
	for {
		var batch []item
		select {
		case it := <-s.queue:
			batch = append(batch, it)
		case <-s.stop:
			s.drain()
			return
		case <-time.After(200 * time.Millisecond):
			s.backfill()
			continue
		}
	more:
		for len(batch) < maxBatch {
			select {
			case it := <-s.queue:
				batch = append(batch, it)
			default:
				break more
			}
		}
		s.ship(batch)
		if len(s.queue) == 0 {
			s.backfill()
		}
	}
}

// ship writes a batch to every sink, trying a failing sink again until it
// takes the batch or the streamer stops.
func (s *Streamer) ship(batch []item) {
	recs := make([]Record, len(batch))
	for i, it := range batch {
		recs[i] = it.rec
	}
	for _, k := range s.sinks {
		for {
			err := k.Write(context.Background(), recs)
			if err == nil {
				break
			}
			s.failures.Add(1)
			s.log.Warn("SIEM sink failed; trying again", "sink", k.Name(), "error", err, "records", len(recs))
			select {
			case <-s.stop:
				return
			case <-time.After(s.retry):
			}
		}
	}
	s.shipped.Add(int64(len(recs)))
	s.pending.Add(-int64(len(recs)))
}

// backfill re-reads the records feeds dropped and ships them.
func (s *Streamer) backfill() {
	s.mu.Lock()
	feeds := make([]*Feed, 0, len(s.feeds))
	for f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	for _, f := range feeds {
		f.mu.Lock()
		audit, events := f.missedAudit, f.missedEvents
		f.missedAudit, f.missedEvents = nil, nil
		s.pending.Add(int64(len(audit) + len(events)))
		f.mu.Unlock()
		if len(audit)+len(events) == 0 {
			continue
		}
		recs, found := f.reread(audit, events)
		s.pending.Add(-int64(len(audit) + len(events) - found))
		s.lost.Add(int64(len(audit) + len(events) - found))
		for start := 0; start < len(recs); start += 256 {
			batch := make([]item, 0, 256)
			for _, r := range recs[start:min(start+256, len(recs))] {
				batch = append(batch, item{feed: f, rec: r})
			}
			s.ship(batch)
		}
		s.backfilled.Add(int64(len(recs)))
	}
}

// reread reads dropped records back from the trail, in order.
func (f *Feed) reread(audit, events []int64) ([]Record, int) {
	ctx := context.Background()
	var out []Record
	slices.Sort(audit)
	for i := 0; i < len(audit); {
		entries, err := f.src.Audit(ctx, store.AuditQuery{AfterSeq: audit[i] - 1, Limit: 1000})
		if err != nil {
			f.s.log.Error("re-reading audit entries for the SIEM", "error", err)
			break
		}
		if len(entries) == 0 {
			i++ // pruned: lost
			continue
		}
		last := entries[len(entries)-1].Seq
		for _, e := range entries {
			for i < len(audit) && audit[i] < e.Seq {
				i++ // not there any more: lost
			}
			if i < len(audit) && audit[i] == e.Seq {
				out = append(out, Record{Kind: KindAudit, Tenant: f.tenant, Audit: &e})
				i++
			}
		}
		for i < len(audit) && audit[i] <= last {
			i++
		}
	}
	if len(events) > 0 {
		want := map[int64]bool{}
		for _, id := range events {
			want[id] = true
		}
		evs, err := f.src.SecurityEvents(ctx, "")
		if err != nil {
			f.s.log.Error("re-reading security events for the SIEM", "error", err)
		}
		for i := range evs {
			if want[evs[i].ID] {
				out = append(out, Record{Kind: KindEvent, Tenant: f.tenant, Event: &evs[i]})
			}
		}
	}
	return out, len(out)
}

// drain ships what is buffered, then what was dropped, for up to 5 s.
func (s *Streamer) drain() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var batch []item
	more:
		for len(batch) < 256 {
			select {
			case it := <-s.queue:
				batch = append(batch, it)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			break
		}
		s.ship(batch)
	}
	s.backfill()
}

// Close ships what is left (for a few seconds: a stalled SIEM does not
// hold up a shutdown) and closes the sinks.
func (s *Streamer) Close() error {
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(8 * time.Second):
		for _, k := range s.sinks {
			if i, ok := k.(interface{ Interrupt() }); ok {
				i.Interrupt() // breaks a write a stalled collector holds
			}
		}
		<-s.done
	}
	var errs []error
	for _, k := range s.sinks {
		errs = append(errs, k.Close())
	}
	return errors.Join(errs...)
}

// Flush waits until the buffer is empty and what was dropped is shipped,
// or ctx ends (tests, shutdown).
func (s *Streamer) Flush(ctx context.Context) error {
	for {
		// Read before the rest: a raise that ends has taken its record in
		// (pending) or marked it missed before it counts itself out.
		raising := s.raising.Load()
		s.mu.Lock()
		waiting := 0
		for f := range s.feeds {
			f.mu.Lock()
			waiting += len(f.missedAudit) + len(f.missedEvents)
			f.mu.Unlock()
		}
		s.mu.Unlock()
		if raising == 0 && waiting == 0 && s.pending.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
