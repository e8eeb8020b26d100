package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The audit trail and the security events are two hash chains keyed with a
// key the database does not hold (an HMAC-SHA256 under a key derived from
// the sandbox's key file): someone who can write this file can neither edit
// an entry nor re-chain the rest without it, and a head saved elsewhere
// (Head) also shows entries cut off the end. Each chain starts after its
// anchor: seq 0 for a new database, the last entry written before the chain
// was keyed (legacy), or the last one retention pruned.

// AuditEntry is one security decision, or one committed state change
// (Decision "committed").
type AuditEntry struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	InteractionID string    `json:"interaction_id"`
	IP            string    `json:"ip"`
	ClientID      string    `json:"client_id,omitempty"`
	PSU           string    `json:"psu,omitempty"`
	ConsentID     string    `json:"consent_id,omitempty"`
	Method        string    `json:"method"`
	Path          string    `json:"path"`
	Status        int       `json:"status"`
	Decision      string    `json:"decision"`
	Rule          string    `json:"rule"`
	Detail        string    `json:"detail,omitempty"`
	PrevHash      string    `json:"prev_hash"`
	Hash          string    `json:"hash"`
}

// Decisions an entry records.
const (
	DecisionAllowed   = "allowed"
	DecisionRefused   = "refused"
	DecisionCommitted = "committed" // a state change, written in its own transaction
)

// The chains.
const (
	chainAudit  = "audit"
	chainEvents = "events"
)

// ErrAuditKey is a database whose audit trail was chained under another
// key than the one given.
var ErrAuditKey = errors.New("the audit trail was chained with another key")

type actorKey struct{}

// WithActor makes every write under ctx that changes rows append an audit
// entry in the same transaction: a state change and its record commit
// together or not at all. who describes the actor at the time of the write
// (a request learns who it is as it is authenticated).
func WithActor(ctx context.Context, who func() AuditEntry) context.Context {
	return context.WithValue(ctx, actorKey{}, who)
}

// withoutActor is ctx with no actor: what is written under it is the
// bank's own doing.
func withoutActor(ctx context.Context) context.Context {
	return context.WithValue(ctx, actorKey{}, nil)
}

func actorOf(ctx context.Context) func() AuditEntry {
	who, _ := ctx.Value(actorKey{}).(func() AuditEntry)
	return who
}

// recordingChanges wraps a write transaction's work so that, when ctx has
// an actor and the work changed rows, a "committed" entry naming the store
// operation is appended before the commit; rec gets it, for the commit hook
// once the transaction has committed.
func (s *Store) recordingChanges(ctx context.Context, op string, f func(*sql.Tx) error, rec *[]*AuditEntry) func(*sql.Tx) error {
	who := actorOf(ctx)
	if who == nil {
		return f
	}
	// The rows the transaction changed so far: SQLite counts them per
	// connection, PostgreSQL per transaction in its statistics (pgChanges).
	changes := "SELECT total_changes()"
	if s.pg != nil {
		changes = s.pg.changes
	}
	return func(tx *sql.Tx) error {
		var before, after int64
		if err := tx.QueryRowContext(ctx, changes).Scan(&before); err != nil {
			return err
		}
		if err := f(tx); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, changes).Scan(&after); err != nil {
			return err
		}
		if after == before {
			return nil
		}
		e := who()
		e.Status, e.Decision, e.Rule = 0, DecisionCommitted, "change"
		e.Detail = fmt.Sprintf("%s: %d rows", op, after-before)
		*rec = []*AuditEntry{&e}
		return s.appendAudit(ctx, tx, *rec)
	}
}

// CommitHook is told what the audit trail and the security events gained,
// once it has committed (a SIEM feed): entries the auditor wrote in a
// batch, the entry a state change committed with, a raised event. It is
// called on the committing goroutine and must not block.
type CommitHook func(entries []AuditEntry, events []SecurityEvent)

// OnCommit sets the commit hook (nil: none).
func (s *Store) OnCommit(h CommitHook) { s.hook.Store(&h) }

func (s *Store) committed(entries []*AuditEntry, events []SecurityEvent) {
	h := s.hook.Load()
	if h == nil || *h == nil || (len(entries) == 0 && len(events) == 0) {
		return
	}
	out := make([]AuditEntry, len(entries))
	for i, e := range entries {
		out[i] = *e
	}
	(*h)(out, events)
}

// callerOp names the store method that called the function calling it
// ("CreateOrder"), for the record of the change it made.
func callerOp() string { return callerOpAt(3) }

// callerOpAt is callerOp skip frames up (runtime.Caller's count).
func callerOpAt(skip int) string {
	pc, _, _, ok := runtime.Caller(skip)
	if !ok {
		return "write"
	}
	name := runtime.FuncForPC(pc).Name()
	name = name[strings.LastIndexByte(name, '/')+1:]
	parts := strings.Split(name, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; p != "" && !strings.HasPrefix(p, "func") && !strings.HasPrefix(p, "(") {
			return p
		}
	}
	return name
}

// mac is the keyed hash of b under the audit key.
func (s *Store) mac(b []byte) string { return s.linker().mac(b) }

// linker MACs the links of a chain one after another with one HMAC, reset
// between them, and one buffer (an HMAC and a buffer made per entry were a
// tenth of what a read's request allocated).
type linker struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

func (s *Store) linker() *linker { return &linker{h: hmac.New(sha256.New, s.auditKey)} }

func (l *linker) mac(b []byte) string {
	l.h.Reset()
	l.h.Write(b)
	l.sum = l.h.Sum(l.sum[:0])
	return hex.EncodeToString(l.sum)
}

// entry is the MAC of an audit entry's link (entryBytes).
func (l *linker) entry(prev string, e *AuditEntry) string {
	l.buf = entryBytes(l.buf[:0], prev, e)
	return l.mac(l.buf)
}

// entryBytes is what an entry's link covers:
// fmt.Sprintf("%s|%d|%d|%q|%q|%q|%q|%q|%q|%q|%d|%q|%q|%q", prev, seq, at
// (unix ms), interaction id, ip, client, psu, consent, method, path, status,
// decision, rule, detail), built without fmt (the same bytes, a fifth of
// the time), appended to b.
func entryBytes(b []byte, prev string, e *AuditEntry) []byte {
	b = append(append(b, prev...), '|')
	b = append(strconv.AppendInt(b, e.Seq, 10), '|')
	b = strconv.AppendInt(b, e.At.UnixMilli(), 10)
	for _, f := range []string{e.InteractionID, e.IP, e.ClientID, e.PSU, e.ConsentID, e.Method, e.Path} {
		b = appendQuote(append(b, '|'), f)
	}
	b = strconv.AppendInt(append(b, '|'), int64(e.Status), 10)
	for _, f := range []string{e.Decision, e.Rule, e.Detail} {
		b = appendQuote(append(b, '|'), f)
	}
	return b
}

// appendQuote is strconv.AppendQuote, byte for byte, with a fast path for
// what an audit field nearly always is: printable ASCII with no quote or
// backslash, which Go quotes as itself between double quotes.
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// eventBytes is what a security event's link covers.
func eventBytes(prev string, e *SecurityEvent, evidence string) []byte {
	return fmt.Appendf(nil, "%s|%d|%d|%q|%q|%q|%q|%q|%q", prev, e.ID, e.At.UnixMilli(), e.ClientID, e.Rule, e.Severity, e.Summary,
		evidence, e.Action)
}

// anchor is where a chain's verified part starts.
type anchor struct {
	Chain  string `json:"chain"`
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
	Reason string `json:"reason"` // start | legacy | retention
	At     int64  `json:"at"`
	KeyID  string `json:"key_id"`
	MAC    string `json:"-"`
}

func (s *Store) anchorMAC(a anchor) string {
	return s.mac(fmt.Appendf(nil, "anchor|%q|%d|%q|%q|%d|%q", a.Chain, a.Seq, a.Hash, a.Reason, a.At, a.KeyID))
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readAnchor(ctx context.Context, q rowQuerier, chain string) (anchor, error) {
	a := anchor{Chain: chain}
	err := q.QueryRowContext(ctx, "SELECT seq, hash, reason, at, key_id, mac FROM audit_anchors WHERE chain = ?", chain).
		Scan(&a.Seq, &a.Hash, &a.Reason, &a.At, &a.KeyID, &a.MAC)
	return a, err
}

func (s *Store) setAnchor(ctx context.Context, tx *sql.Tx, a anchor) error {
	a.KeyID = s.keyID
	a.MAC = s.anchorMAC(a)
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_anchors(chain, seq, hash, reason, at, key_id, mac) VALUES(?,?,?,?,?,?,?)
		ON CONFLICT(chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, reason = excluded.reason, at = excluded.at,
		key_id = excluded.key_id, mac = excluded.mac`, a.Chain, a.Seq, a.Hash, a.Reason, a.At, a.KeyID, a.MAC)
	return err
}

// chainTables are each chain's table and sequence column.
var chainTables = map[string][2]string{chainAudit: {"audit_log", "seq"}, chainEvents: {"security_events", "id"}}

// initChains anchors each chain on first use of the key: after the entries
// already there (written before the trail was keyed), or at 0. A chain
// anchored under another key is refused: its entries could not be checked.
func (s *Store) initChains(ctx context.Context, at time.Time) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		for _, chain := range []string{chainAudit, chainEvents} {
			a, err := readAnchor(ctx, tx, chain)
			if err == nil {
				if a.KeyID != s.keyID {
					return fmt.Errorf("%w (the database's %s chain: key %s; the key file's: %s)", ErrAuditKey, chain, a.KeyID, s.keyID)
				}
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			t := chainTables[chain]
			a = anchor{Chain: chain, Reason: "start", At: at.UnixMilli()}
			err = tx.QueryRowContext(ctx, "SELECT "+t[1]+", hash FROM "+t[0]+" ORDER BY "+t[1]+" DESC LIMIT 1").Scan(&a.Seq, &a.Hash)
			switch {
			case err == nil:
				a.Reason = "legacy"
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if err := s.setAnchor(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// tail is a chain's last link: its last entry, or its anchor when it has
// none after it.
func tail(ctx context.Context, q rowQuerier, chain string) (int64, string, error) {
	t := chainTables[chain]
	var seq int64
	var hash string
	err := q.QueryRowContext(ctx, "SELECT "+t[1]+", hash FROM "+t[0]+" ORDER BY "+t[1]+" DESC LIMIT 1").Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		a, aerr := readAnchor(ctx, q, chain)
		if aerr != nil {
			return 0, "", aerr
		}
		if a.Seq > 0 || a.Hash != "" {
			return a.Seq, a.Hash, nil
		}
		return 0, "", nil
	}
	return seq, hash, err
}

// AppendAudit writes entries at the end of the chain, in one transaction,
// filling in Seq, PrevHash and Hash.
func (s *Store) AppendAudit(ctx context.Context, entries []*AuditEntry) error {
	err := s.writeLog(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, entries) })
	if err == nil {
		s.committed(entries, nil)
	}
	return err
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, entries []*AuditEntry) error {
	seq, prev, err := tail(ctx, tx, chainAudit)
	if err != nil {
		return err
	}
	l := s.linker()
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), auditRowsPerInsert)]
		entries = entries[len(chunk):]
		args := make([]any, 0, auditColumns*len(chunk))
		for _, e := range chunk {
			if s.pg != nil { // chain the text as PostgreSQL stores it
				for _, f := range []*string{&e.InteractionID, &e.IP, &e.ClientID, &e.PSU, &e.ConsentID, &e.Method, &e.Path, &e.Decision, &e.Rule, &e.Detail} {
					*f = pgText(*f)
				}
			}
			seq++
			e.Seq, e.PrevHash = seq, prev
			e.Hash = l.entry(prev, e)
			args = append(args, e.Seq, e.At.UnixMilli(), e.InteractionID, e.IP, e.ClientID, e.PSU, e.ConsentID, e.Method,
				e.Path, e.Status, e.Decision, e.Rule, e.Detail, e.PrevHash, e.Hash)
			prev = e.Hash
		}
		if _, err := tx.ExecContext(ctx, auditInserts[len(chunk)], args...); err != nil {
			return err
		}
	}
	return nil
}

// The audit trail's entries are inserted up to auditRowsPerInsert rows a
// statement (one statement per row cost a third of the trail's writing):
// auditInserts[n] inserts n rows.
const (
	auditColumns       = 15
	auditRowsPerInsert = 32
)

var auditInserts = func() (out [auditRowsPerInsert + 1]string) {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", auditColumns), ",") + ")"
	for n := 1; n <= auditRowsPerInsert; n++ {
		out[n] = "INSERT INTO audit_log(seq, at, interaction_id, ip, client_id, psu, consent_id, method, path, status, decision, rule, " +
			"detail, prev_hash, hash) VALUES" + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	}
	return out
}()

// AuditQuery selects audit entries.
type AuditQuery struct {
	AfterSeq      int64
	ClientID      string
	ConsentID     string
	InteractionID string
	Decision      string
	Limit         int
}

const auditCols = "seq, at, interaction_id, ip, client_id, psu, consent_id, method, path, status, decision, rule, detail, prev_hash, hash"

func scanAudit(rows *sql.Rows) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	err := rows.Scan(&e.Seq, &at, &e.InteractionID, &e.IP, &e.ClientID, &e.PSU, &e.ConsentID, &e.Method, &e.Path, &e.Status, &e.Decision,
		&e.Rule, &e.Detail, &e.PrevHash, &e.Hash)
	e.At = time.UnixMilli(at).UTC()
	return e, err
}

// Audit lists entries in chain order.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	where, args := []string{"seq > ?"}, []any{q.AfterSeq}
	for col, v := range map[string]string{"client_id": q.ClientID, "consent_id": q.ConsentID, "interaction_id": q.InteractionID, "decision": q.Decision} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 1000
	}
	rows, err := s.rc.QueryContext(ctx, "SELECT "+auditCols+" FROM audit_log WHERE "+strings.Join(where, " AND ")+" ORDER BY seq LIMIT "+strconv.Itoa(q.Limit), args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

// ChainHead is a chain's last link: how many entries it has had (the last
// sequence number) and the last one's hash.
type ChainHead struct {
	Count int64  `json:"count"`
	Hash  string `json:"hash"`
}

// Head is the audit trail's head and the security events', as saved
// outside the database to detect truncation later.
type Head struct {
	ChainHead
	Events ChainHead `json:"events"`
}

// AuditHead reads the heads of both chains in one snapshot.
func (s *Store) AuditHead(ctx context.Context) (Head, error) {
	var h Head
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if h.Count, h.Hash, err = tail(ctx, tx, chainAudit); err != nil {
			return err
		}
		h.Events.Count, h.Events.Hash, err = tail(ctx, tx, chainEvents)
		return err
	})
	return h, err
}

// ChainReport is what verifying one chain found.
type ChainReport struct {
	Chain   string `json:"chain"`
	From    int64  `json:"from"`    // the anchor: entries after it were checked
	Reason  string `json:"reason"`  // why the chain starts there
	Entries int64  `json:"entries"` // entries checked
	Last    int64  `json:"last"`
}

// VerifyReport is what VerifyAudit checked.
type VerifyReport struct {
	Audit  ChainReport `json:"audit"`
	Events ChainReport `json:"events"`
}

// VerifyAudit walks both chains from their anchors and reports the first
// link that does not hold: an edited, inserted, deleted or reordered entry,
// a chain recomputed without the key, an anchor moved. Given a head saved
// earlier, it also reports entries cut off the end since, or a chain that
// no longer passes through the saved head (replaced).
func (s *Store) VerifyAudit(ctx context.Context, head *Head) (VerifyReport, error) {
	var r VerifyReport
	var want *ChainHead
	if head != nil {
		want = &head.ChainHead
	}
	var err error
	if r.Audit, err = s.verifyChain(ctx, chainAudit, want); err != nil {
		return r, fmt.Errorf("audit trail: %w", err)
	}
	if head != nil {
		want = &head.Events
	}
	if r.Events, err = s.verifyChain(ctx, chainEvents, want); err != nil {
		return r, fmt.Errorf("security events: %w", err)
	}
	return r, nil
}

func (s *Store) verifyChain(ctx context.Context, chain string, head *ChainHead) (ChainReport, error) {
	r := ChainReport{Chain: chain}
	a, err := readAnchor(ctx, s.rc, chain)
	if errors.Is(err, sql.ErrNoRows) {
		return r, errors.New("its anchor is missing (deleted)")
	}
	if err != nil {
		return r, translate(err)
	}
	if a.KeyID != s.keyID {
		return r, fmt.Errorf("%w (key %s; the key file's: %s)", ErrAuditKey, a.KeyID, s.keyID)
	}
	if !hmac.Equal([]byte(a.MAC), []byte(s.anchorMAC(a))) {
		return r, fmt.Errorf("its anchor (after entry %d) does not match its MAC (edited)", a.Seq)
	}
	r.From, r.Reason, r.Last = a.Seq, a.Reason, a.Seq
	if head != nil && head.Count < a.Seq {
		head = nil // the saved head is older than what retention kept: nothing to compare
	} else if head != nil && head.Count == a.Seq && head.Hash != a.Hash {
		return r, fmt.Errorf("entry %d is not the one the saved head names (replaced)", head.Count)
	}
	prev, want, l := a.Hash, a.Seq+1, s.linker()
	check := func(seq int64, prevHash, hash string, link []byte) error {
		switch {
		case seq != want:
			return fmt.Errorf("entry %d is missing (found %d next)", want, seq)
		case prevHash != prev:
			return fmt.Errorf("entry %d: prev_hash does not match entry %d's hash", seq, seq-1)
		case !hmac.Equal([]byte(hash), []byte(l.mac(link))):
			return fmt.Errorf("entry %d: its content does not match its keyed hash (edited, reordered or re-chained)", seq)
		case head != nil && seq == head.Count && hash != head.Hash:
			return fmt.Errorf("entry %d is not the one the saved head names (replaced)", seq)
		}
		prev, want, r.Entries, r.Last = hash, want+1, r.Entries+1, seq
		return nil
	}
	if chain == chainAudit {
		err = s.walkAudit(ctx, a.Seq, func(e *AuditEntry) error { return check(e.Seq, e.PrevHash, e.Hash, entryBytes(nil, e.PrevHash, e)) })
	} else {
		err = s.walkEvents(ctx, a.Seq, func(e *SecurityEvent, evidence string) error {
			return check(e.ID, e.PrevHash, e.Hash, eventBytes(e.PrevHash, e, evidence))
		})
	}
	if err != nil {
		return r, err
	}
	if head != nil && r.Last < head.Count {
		return r, fmt.Errorf("truncated: it ends at entry %d, the saved head at %d", r.Last, head.Count)
	}
	return r, nil
}

func (s *Store) walkAudit(ctx context.Context, after int64, f func(*AuditEntry) error) error {
	rows, err := s.rc.QueryContext(ctx, "SELECT "+auditCols+" FROM audit_log WHERE seq > ? ORDER BY seq", after)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := f(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) walkEvents(ctx context.Context, after int64, f func(*SecurityEvent, string) error) error {
	rows, err := s.rc.QueryContext(ctx, "SELECT "+securityEventCols+" FROM security_events WHERE id > ? ORDER BY id", after)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, evidence, err := scanSecurityEvent(rows)
		if err != nil {
			return err
		}
		if err := f(&e, evidence); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExportAudit writes the chain as JSON lines (for a SIEM).
func (s *Store) ExportAudit(ctx context.Context, w io.Writer, afterSeq int64) error {
	enc := json.NewEncoder(w)
	return s.walkAudit(ctx, afterSeq, func(e *AuditEntry) error { return enc.Encode(e) })
}

// PruneAudit applies retention: entries of both chains stamped before
// cutoff go, their anchors move past them (with a new MAC), and refused
// traffic counted before cutoff goes too. It reports how many entries went.
func (s *Store) PruneAudit(ctx context.Context, cutoff, now time.Time) (int64, error) {
	var pruned int64
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		for _, chain := range []string{chainAudit, chainEvents} {
			t := chainTables[chain]
			a, err := readAnchor(ctx, tx, chain)
			if err != nil {
				return err
			}
			// The chain keeps everything from its first entry at or after
			// the cutoff: an entry stamped late never strands an earlier one.
			var keep sql.NullInt64
			if err := tx.QueryRowContext(ctx, "SELECT min("+t[1]+") FROM "+t[0]+" WHERE at >= ? AND "+t[1]+" > ?", cutoff.UnixMilli(), a.Seq).Scan(&keep); err != nil {
				return err
			}
			last, lastHash, err := tail(ctx, tx, chain)
			if err != nil {
				return err
			}
			upTo := last
			if keep.Valid {
				upTo = keep.Int64 - 1
			}
			if upTo <= a.Seq {
				continue
			}
			var hash string
			if err := tx.QueryRowContext(ctx, "SELECT hash FROM "+t[0]+" WHERE "+t[1]+" = ?", upTo).Scan(&hash); err != nil {
				if upTo != last {
					return err
				}
				hash = lastHash
			}
			if err := s.setAnchor(ctx, tx, anchor{Chain: chain, Seq: upTo, Hash: hash, Reason: "retention", At: now.UnixMilli()}); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+t[0]+" WHERE "+t[1]+" <= ?", upTo)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			pruned += n
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM refused_traffic WHERE minute < ?", cutoff.Unix()/60)
		return err
	})
	return pruned, err
}

// Refused is refused traffic from callers who proved nothing, counted per
// minute, source and rule.
type Refused struct {
	Minute time.Time `json:"minute"`
	Source string    `json:"source"`
	Rule   string    `json:"rule"`
	N      int64     `json:"n"`
}

// AddRefused adds counts to the refused traffic table.
func (s *Store) AddRefused(ctx context.Context, counts []Refused) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		for _, c := range counts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO refused_traffic(minute, source, rule, n) VALUES(?,?,?,?)
				ON CONFLICT(minute, source, rule) DO UPDATE SET n = refused_traffic.n + excluded.n`, c.Minute.Unix()/60, c.Source, c.Rule, c.N); err != nil {
				return err
			}
		}
		return nil
	})
}

// RefusedTraffic lists the counts from since on, newest minute first.
func (s *Store) RefusedTraffic(ctx context.Context, since time.Time, limit int) ([]Refused, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	rows, err := s.rc.QueryContext(ctx, "SELECT minute, source, rule, n FROM refused_traffic WHERE minute >= ? ORDER BY minute DESC, n DESC LIMIT ?",
		since.Unix()/60, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []Refused{}
	for rows.Next() {
		var r Refused
		var minute int64
		if err := rows.Scan(&minute, &r.Source, &r.Rule, &r.N); err != nil {
			return nil, err
		}
		r.Minute = time.Unix(minute*60, 0).UTC()
		out = append(out, r)
	}
	return out, translate(rows.Err())
}

// SecurityEvent is what an anomaly rule raised.
type SecurityEvent struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	ClientID string    `json:"client_id"`
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Evidence []int64   `json:"evidence"` // audit seqs
	Action   string    `json:"action"`   // alerted | suspended
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

const securityEventCols = "id, at, client_id, rule, severity, summary, evidence, action, prev_hash, hash"

func scanSecurityEvent(rows *sql.Rows) (SecurityEvent, string, error) {
	var e SecurityEvent
	var at int64
	var ev string
	if err := rows.Scan(&e.ID, &at, &e.ClientID, &e.Rule, &e.Severity, &e.Summary, &ev, &e.Action, &e.PrevHash, &e.Hash); err != nil {
		return e, "", err
	}
	e.At = time.UnixMilli(at).UTC()
	return e, ev, json.Unmarshal([]byte(ev), &e.Evidence)
}

// RaiseEvent records a security event at the end of its chain and, when
// the action is to suspend, suspends the client in the same transaction.
func (s *Store) RaiseEvent(ctx context.Context, e *SecurityEvent) (err error) {
	if e.Evidence == nil {
		e.Evidence = []int64{}
	}
	raw, err := json.Marshal(e.Evidence)
	if err != nil {
		return err
	}
	ev := string(raw)
	defer func() {
		if err == nil {
			s.committed(nil, []SecurityEvent{*e})
		}
	}()
	return s.write(ctx, func(tx *sql.Tx) error {
		last, prev, err := tail(ctx, tx, chainEvents)
		if err != nil {
			return err
		}
		e.ID, e.PrevHash = last+1, prev
		e.Hash = s.mac(eventBytes(prev, e, ev))
		if _, err := tx.ExecContext(ctx, `INSERT INTO security_events(id, at, client_id, rule, severity, summary, evidence, action, prev_hash, hash)
			VALUES(?,?,?,?,?,?,?,?,?,?)`, e.ID, e.At.UnixMilli(), e.ClientID, e.Rule, e.Severity, e.Summary, ev, e.Action, e.PrevHash, e.Hash); err != nil {
			return err
		}
		if e.Action == "suspended" && e.ClientID != "" {
			_, err = tx.ExecContext(ctx, "UPDATE clients SET suspended = ? WHERE client_id = ? AND suspended = ''", e.Rule+": "+e.Summary, e.ClientID)
		}
		return err
	})
}

// SecurityEvents lists events, newest last.
func (s *Store) SecurityEvents(ctx context.Context, clientID string) ([]SecurityEvent, error) {
	q, args := "SELECT "+securityEventCols+" FROM security_events", []any{}
	if clientID != "" {
		q, args = q+" WHERE client_id = ?", append(args, clientID)
	}
	rows, err := s.rc.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []SecurityEvent{}
	for rows.Next() {
		e, _, err := scanSecurityEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

// SetSuspension suspends a client with a reason, or lifts it with "".
func (s *Store) SetSuspension(ctx context.Context, clientID, reason string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE clients SET suspended = ? WHERE client_id = ?", reason, clientID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// Count is a count of rows by two labels.
type Count struct {
	A, B string
	N    int
}

// ConsentCounts counts consents by kind and status.
func (s *Store) ConsentCounts(ctx context.Context) ([]Count, error) {
	return s.counts(ctx, "SELECT kind, status, count(*) FROM consents GROUP BY 1, 2")
}

// EventCounts counts security events by rule and severity.
func (s *Store) EventCounts(ctx context.Context) ([]Count, error) {
	return s.counts(ctx, "SELECT rule, severity, count(*) FROM security_events GROUP BY 1, 2")
}

func (s *Store) counts(ctx context.Context, q string) ([]Count, error) {
	rows, err := s.rc.QueryContext(ctx, q)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.A, &c.B, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}
