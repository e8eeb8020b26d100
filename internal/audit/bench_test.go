package audit

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

func benchAuditor(b *testing.B) *Auditor {
	b.Helper()
	s, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "audit.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), NewDetector(DefaultRules))
	b.Cleanup(func() { a.Close(); s.Close() })
	return a
}

func entry() *store.AuditEntry {
	return &store.AuditEntry{At: time.Now(), InteractionID: "93bac548-d2de-4546-b106-880a5018460d", IP: "127.0.0.1",
		ClientID: "bench-client", PSU: "alice", ConsentID: "pdc-bench", Method: "POST", Path: "/open-banking/v3.1/pisp/domestic-payments",
		Status: 201, Decision: "allowed", Rule: "ok"}
}

// BenchmarkAuditWrite is the audit write of a state-changing request when
// requests come one at a time: the request waits for its entry's commit
// (one transaction, hash chain, anomaly rules).
func BenchmarkAuditWrite(b *testing.B) {
	a := benchAuditor(b)
	b.ReportAllocs()
	for b.Loop() {
		a.Record(entry(), true)
	}
}

// BenchmarkAuditWriteParallel is the same with many requests waiting at
// once: entries are group-committed, so the cost per entry falls.
func BenchmarkAuditWriteParallel(b *testing.B) {
	a := benchAuditor(b)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Record(entry(), true)
		}
	})
}

// BenchmarkAuditRecordRead is the audit write of a read: queued, not waited
// for (the writer's cost then shows up in throughput, not here).
func BenchmarkAuditRecordRead(b *testing.B) {
	a := benchAuditor(b)
	b.ReportAllocs()
	for b.Loop() {
		a.Record(entry(), false)
	}
	a.Flush()
}
