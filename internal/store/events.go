package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// EventSubscription is a TPP's event subscription (UK OB events API): where
// to push its events (CallbackURL; empty: aggregated polling only) and which
// event types it takes (Filter, URNs; empty: every type).
type EventSubscription struct {
	ID          string
	ClientID    string
	CallbackURL string
	Version     string
	// EventTypes are the subscription's EventTypes as the TPP sent them (nil
	// when it sent none); Filter is what the bank reads from them.
	EventTypes []string
	Filter     []string
	Hold       bool // admin: new deliveries wait until released
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Event is one event notification of the outbox: the SET the TPP is sent,
// and whether it acknowledged it.
type Event struct {
	Ref      int64
	JTI      string
	TXN      string
	ClientID string
	Type     string // event type URN
	Family   string // EventConsent | EventPayment
	Kind     string // the consent kind or payment order kind
	RID      string // the resource's id
	Reason   string
	Cause    string
	SET      string // the signed SET; "" until signed
	SignedAt time.Time
	AckedAt  time.Time // zero: awaiting
	AckedBy  string    // push | poll
	SetErr   string    // the TPP's last negative acknowledgement, JSON
	// Deliveries are the push deliveries of the event (listings only).
	Deliveries []Delivery
}

// Resource families of an event.
const (
	EventConsent = "consent"
	EventPayment = "payment"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryHeld      = "held"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // gave up after the retry policy's last attempt
	DeliveryCancelled = "cancelled"
)

// Delivery is one push of an event's SET to its client's CallbackUrl.
type Delivery struct {
	ID                int64
	Event             int64
	ClientID          string
	Kind              string // original | duplicate
	State             string
	Attempts          int
	NextAttemptAt     time.Time
	LastAttemptAt     time.Time
	LastStatus        int
	LastError         string
	LastInteractionID string
	DeliveredAt       time.Time
	// Set by ClaimDelivery: what to send where.
	JTI         string
	SET         string
	CallbackURL string
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func jsonList(raw string) []string {
	if raw == "" {
		return nil
	}
	var out []string
	if json.Unmarshal([]byte(raw), &out) != nil {
		return nil
	}
	return out
}

const subscriptionCols = "subscription_id, client_id, callback_url, version, event_types, filter, hold, created_at, updated_at"

func scanSubscription(sc interface{ Scan(...any) error }) (EventSubscription, error) {
	var e EventSubscription
	var types, filter string
	var created, updated int64
	if err := sc.Scan(&e.ID, &e.ClientID, &e.CallbackURL, &e.Version, &types, &filter, &e.Hold, &created, &updated); err != nil {
		return e, err
	}
	e.EventTypes, e.Filter = jsonList(types), jsonList(filter)
	e.CreatedAt, e.UpdatedAt = fromMS(created), fromMS(updated)
	return e, nil
}

func subscriptionJSON(e *EventSubscription) (types, filter string, err error) {
	if e.EventTypes != nil {
		b, err := json.Marshal(e.EventTypes)
		if err != nil {
			return "", "", err
		}
		types = string(b)
	}
	b, err := json.Marshal(nonNil(e.Filter))
	return types, string(b), err
}

// CreateEventSubscription stores a client's subscription; ErrConflict when
// the client already has one (one per TPP, the standard's rule).
func (s *Store) CreateEventSubscription(ctx context.Context, e EventSubscription) error {
	types, filter, err := subscriptionJSON(&e)
	if err != nil {
		return err
	}
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO event_subscriptions("+subscriptionCols+") VALUES(?,?,?,?,?,?,?,?,?)",
			e.ID, e.ClientID, e.CallbackURL, e.Version, types, filter, e.Hold, ms(e.CreatedAt), ms(e.UpdatedAt))
		return err
	})
}

// EventSubscription reads a subscription by its id; ErrNotFound if unknown.
func (s *Store) EventSubscription(ctx context.Context, id string) (EventSubscription, error) {
	e, err := scanSubscription(s.rc.QueryRowContext(ctx, "SELECT "+subscriptionCols+" FROM event_subscriptions WHERE subscription_id = ?", id))
	return e, translate(err)
}

// EventSubscriptionOf reads a client's subscription; ErrNotFound if none.
func (s *Store) EventSubscriptionOf(ctx context.Context, clientID string) (EventSubscription, error) {
	e, err := scanSubscription(s.rc.QueryRowContext(ctx, "SELECT "+subscriptionCols+" FROM event_subscriptions WHERE client_id = ?", clientID))
	return e, translate(err)
}

// UpdateEventSubscription replaces a subscription's callback, version and
// event types. Without a CallbackUrl its waiting deliveries are cancelled
// (the events stay for polling); a new CallbackUrl applies to them at once.
func (s *Store) UpdateEventSubscription(ctx context.Context, e EventSubscription) error {
	types, filter, err := subscriptionJSON(&e)
	if err != nil {
		return err
	}
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE event_subscriptions SET callback_url = ?, version = ?, event_types = ?, filter = ?,
			updated_at = ? WHERE subscription_id = ?`, e.CallbackURL, e.Version, types, filter, ms(e.UpdatedAt), e.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bank.ErrNotFound
		}
		if e.CallbackURL == "" {
			return cancelDeliveries(ctx, tx, e.ClientID, "the subscription no longer has a CallbackUrl")
		}
		return nil
	})
}

// DeleteEventSubscription removes a subscription and cancels its waiting
// deliveries; its unacknowledged events can still be polled.
func (s *Store) DeleteEventSubscription(ctx context.Context, id string) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		var client string
		err := tx.QueryRowContext(ctx, "DELETE FROM event_subscriptions WHERE subscription_id = ? RETURNING client_id", id).Scan(&client)
		if err != nil {
			return err
		}
		return cancelDeliveries(ctx, tx, client, "the subscription was deleted")
	})
}

func cancelDeliveries(ctx context.Context, tx *sql.Tx, clientID, why string) error {
	_, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET state = 'cancelled', last_error = ?
		WHERE client_id = ? AND state IN ('pending', 'held')`, why, clientID)
	return err
}

const eventCols = "id, jti, txn, client_id, type, family, kind, rid, reason, cause, set_jwt, signed_at, acked_at, acked_by, set_err"

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var signed, acked int64
	err := sc.Scan(&e.Ref, &e.JTI, &e.TXN, &e.ClientID, &e.Type, &e.Family, &e.Kind, &e.RID, &e.Reason, &e.Cause, &e.SET,
		&signed, &acked, &e.AckedBy, &e.SetErr)
	e.SignedAt, e.AckedAt = fromMS(signed), fromMS(acked)
	return e, err
}

func queryEvents(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddEvent records an event outside the triggers (the admin's test events):
// queued for push like the others when the client has a CallbackUrl, its
// first push due at `due` (zero: at once). Its Ref is set.
func (s *Store) AddEvent(ctx context.Context, e *Event, due time.Time) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, reason, cause)
			VALUES(?,?,?,?,?,?,?,?,?) RETURNING id`, e.JTI, e.TXN, e.ClientID, e.Type, e.Family, e.Kind, e.RID, e.Reason, e.Cause).Scan(&e.Ref)
		if err != nil || due.IsZero() {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE event_deliveries SET next_attempt_at = ? WHERE event = ?", ms(due), e.Ref)
		return err
	})
}

// UnsignedEvents lists events whose SET is not signed yet, oldest first
// (clientID "" for every client).
func (s *Store) UnsignedEvents(ctx context.Context, clientID string, limit int) ([]Event, error) {
	q := "SELECT " + eventCols + " FROM event_outbox WHERE set_jwt = ''"
	args := []any{}
	if clientID != "" {
		q += " AND client_id = ?"
		args = append(args, clientID)
	}
	out, err := queryEvents(ctx, s.r, q+" ORDER BY id LIMIT ?", append(args, limit)...)
	return out, translate(err)
}

// SignEvent stores an event's signed SET, unless it was signed meanwhile:
// an event has exactly one SET, whoever signs it first.
func (s *Store) SignEvent(ctx context.Context, ref int64, set string, at time.Time) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE event_outbox SET set_jwt = ?, signed_at = ? WHERE id = ? AND set_jwt = ''", set, ms(at), ref)
		return err
	})
}

// Poll is one aggregated-polling exchange with a client.
type Poll struct {
	ClientID string
	Ack      []string          // jtis positively acknowledged
	SetErrs  map[string]string // jti -> the TPP's error (JSON), a negative acknowledgement
	Max      int               // events to return (0: none)
	Now      time.Time
}

// PollEvents applies a poll's acknowledgements (an acknowledged event is no
// longer pushed either) and returns up to Max signed, unacknowledged events
// of the client, oldest first, and whether more are waiting. Unknown or
// another client's jtis are ignored.
func (s *Store) PollEvents(ctx context.Context, p Poll) ([]Event, bool, error) {
	var out []Event
	more := false
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		for _, jti := range p.Ack {
			var ref int64
			err := tx.QueryRowContext(ctx, `UPDATE event_outbox SET acked_at = ?, acked_by = 'poll'
				WHERE client_id = ? AND jti = ? AND acked_at = 0 RETURNING id`, ms(p.Now), p.ClientID, jti).Scan(&ref)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET state = 'cancelled', last_error = 'acknowledged by polling'
				WHERE event = ? AND state IN ('pending', 'held')`, ref); err != nil {
				return err
			}
		}
		for jti, e := range p.SetErrs {
			if _, err := tx.ExecContext(ctx, "UPDATE event_outbox SET set_err = ? WHERE client_id = ? AND jti = ? AND acked_at = 0",
				e, p.ClientID, jti); err != nil {
				return err
			}
		}
		var err error
		out, err = queryEvents(ctx, tx, "SELECT "+eventCols+` FROM event_outbox WHERE client_id = ? AND acked_at = 0 AND set_jwt <> ''
			ORDER BY id LIMIT ?`, p.ClientID, p.Max+1)
		if err != nil {
			return err
		}
		if len(out) > p.Max {
			out, more = out[:p.Max], true
		}
		return nil
	})
	return out, more, err
}

// DueClients lists the clients with a push delivery due at now.
func (s *Store) DueClients(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.rc.QueryContext(ctx, `SELECT DISTINCT d.client_id FROM event_deliveries d JOIN event_outbox e ON e.id = d.event
		WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND e.set_jwt <> '' ORDER BY d.client_id`, ms(now))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// ClaimDelivery takes a client's next due delivery (by ord, then id) for
// one attempt: the attempt is counted and the delivery's next attempt moved
// to now + lease(attempts), so nobody else takes it meanwhile and, should the
// sandbox stop before the outcome is recorded, it is retried then. A due
// delivery whose subscription lost its CallbackUrl is cancelled instead.
// ok is false when nothing is due.
func (s *Store) ClaimDelivery(ctx context.Context, clientID string, now time.Time, lease func(attempts int) time.Duration) (Delivery, bool, error) {
	var d Delivery
	found := false
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		for {
			var url sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT d.id, d.event, d.client_id, d.kind, d.attempts, e.jti, e.set_jwt, s.callback_url
				FROM event_deliveries d JOIN event_outbox e ON e.id = d.event
				LEFT JOIN event_subscriptions s ON s.client_id = d.client_id
				WHERE d.client_id = ? AND d.state = 'pending' AND d.next_attempt_at <= ? AND e.set_jwt <> ''
				ORDER BY d.ord, d.id LIMIT 1`, clientID, ms(now)).
				Scan(&d.ID, &d.Event, &d.ClientID, &d.Kind, &d.Attempts, &d.JTI, &d.SET, &url)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			if url.String == "" {
				if _, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET state = 'cancelled', last_error = 'no CallbackUrl' WHERE id = ?`,
					d.ID); err != nil {
					return err
				}
				continue
			}
			d.CallbackURL, d.Attempts, d.State = url.String, d.Attempts+1, DeliveryPending
			d.LastAttemptAt, d.NextAttemptAt = now, now.Add(lease(d.Attempts))
			found = true
			_, err = tx.ExecContext(ctx, "UPDATE event_deliveries SET attempts = ?, last_attempt_at = ?, next_attempt_at = ? WHERE id = ?",
				d.Attempts, ms(now), ms(d.NextAttemptAt), d.ID)
			return err
		}
	})
	return d, found, err
}

// Outcome is what one delivery attempt came to.
type Outcome struct {
	OK            bool
	GiveUp        bool // a failure after the last attempt the policy allows
	Status        int  // the HTTP status; 0 when there was no answer
	Error         string
	InteractionID string
	At            time.Time
}

// FinishDelivery records an attempt's outcome. A delivered SET counts as
// acknowledged (it is no longer returned by polling); a failed one is retried
// at the time its claim set, or given up.
func (s *Store) FinishDelivery(ctx context.Context, id int64, o Outcome) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		if o.OK {
			var event int64
			if err := tx.QueryRowContext(ctx, `UPDATE event_deliveries SET state = 'delivered', delivered_at = ?, last_status = ?,
				last_error = '', last_interaction_id = ? WHERE id = ? RETURNING event`, ms(o.At), o.Status, o.InteractionID, id).Scan(&event); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE event_outbox SET acked_at = ?, acked_by = 'push' WHERE id = ? AND acked_at = 0", ms(o.At), event)
			return err
		}
		state := DeliveryPending
		if o.GiveUp {
			state = DeliveryFailed
		}
		_, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET state = CASE WHEN state = 'pending' THEN ? ELSE state END,
			last_status = ?, last_error = ?, last_interaction_id = ? WHERE id = ?`, state, o.Status, o.Error, o.InteractionID, id)
		return err
	})
}

// ReleaseClaim undoes a claim whose attempt never happened (the sandbox is
// stopping): the attempt is not counted and the delivery is due at once.
func (s *Store) ReleaseClaim(ctx context.Context, id int64, now time.Time) error {
	return s.writeLog(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, next_attempt_at = ?
			WHERE id = ? AND state = 'pending'`, ms(now), id)
		return err
	})
}

// EventQuery selects outbox entries for the admin listing.
type EventQuery struct {
	ClientID string
	JTI      string
	Limit    int
}

const deliveryCols = `id, event, client_id, kind, state, attempts, next_attempt_at, last_attempt_at, last_status, last_error,
	last_interaction_id, delivered_at`

func scanDelivery(sc interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var next, last, delivered int64
	err := sc.Scan(&d.ID, &d.Event, &d.ClientID, &d.Kind, &d.State, &d.Attempts, &next, &last, &d.LastStatus, &d.LastError,
		&d.LastInteractionID, &delivered)
	d.NextAttemptAt, d.LastAttemptAt, d.DeliveredAt = fromMS(next), fromMS(last), fromMS(delivered)
	return d, err
}

// Events lists outbox entries, newest first, each with its deliveries.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 1000
	}
	var where []string
	var args []any
	if q.ClientID != "" {
		where, args = append(where, "client_id = ?"), append(args, q.ClientID)
	}
	if q.JTI != "" {
		where, args = append(where, "jti = ?"), append(args, q.JTI)
	}
	query := "SELECT " + eventCols + " FROM event_outbox"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	var out []Event
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = queryEvents(ctx, tx, query+" ORDER BY id DESC LIMIT ?", append(args, q.Limit)...); err != nil {
			return err
		}
		for i := range out {
			rows, err := tx.QueryContext(ctx, "SELECT "+deliveryCols+" FROM event_deliveries WHERE event = ? ORDER BY id", out[i].Ref)
			if err != nil {
				return err
			}
			for rows.Next() {
				d, err := scanDelivery(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out[i].Deliveries = append(out[i].Deliveries, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// EventByJTI reads one outbox entry with its deliveries; ErrNotFound if unknown.
func (s *Store) EventByJTI(ctx context.Context, jti string) (Event, error) {
	evs, err := s.Events(ctx, EventQuery{JTI: jti, Limit: 1})
	if err != nil {
		return Event{}, err
	}
	if len(evs) == 0 {
		return Event{}, bank.ErrNotFound
	}
	return evs[0], nil
}

// ErrNoCallback is the refusal to push for a client without a CallbackUrl.
var ErrNoCallback = errors.New("the client's event subscription has no CallbackUrl")

// DuplicateDelivery queues one more push of an event's SET (the admin's
// duplicate), due at `at`, whatever became of the others.
func (s *Store) DuplicateDelivery(ctx context.Context, jti string, at time.Time) (Delivery, error) {
	var d Delivery
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		var url sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT e.id, e.client_id, s.callback_url FROM event_outbox e
			LEFT JOIN event_subscriptions s ON s.client_id = e.client_id WHERE e.jti = ?`, jti).Scan(&d.Event, &d.ClientID, &url); err != nil {
			return err
		}
		if url.String == "" {
			return ErrNoCallback
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO event_deliveries(event, client_id, kind, state, next_attempt_at)
			VALUES(?, ?, 'duplicate', 'pending', ?) RETURNING id`, d.Event, d.ClientID, ms(at)).Scan(&d.ID)
		d.Kind, d.State, d.NextAttemptAt = "duplicate", DeliveryPending, at
		return err
	})
	return d, err
}

// DelayDeliveries moves the next attempt of an event's waiting (pending)
// deliveries to `until`; it returns how many moved. ErrNotFound if the
// event is unknown.
func (s *Store) DelayDeliveries(ctx context.Context, jti string, until time.Time) (int, error) {
	var n int64
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		var ref int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM event_outbox WHERE jti = ?", jti).Scan(&ref); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE event_deliveries SET next_attempt_at = ? WHERE event = ? AND state = 'pending'", ms(until), ref)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// HoldDeliveries stops pushing to a client: its pending deliveries, and the
// ones its new events make, wait (held) until ReleaseDeliveries. It returns
// how many were put on hold; ErrNotFound if the client has no subscription.
func (s *Store) HoldDeliveries(ctx context.Context, clientID string) (int, error) {
	var n int64
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE event_subscriptions SET hold = 1 WHERE client_id = ?", clientID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return bank.ErrNotFound
		}
		if res, err = tx.ExecContext(ctx, "UPDATE event_deliveries SET state = 'held' WHERE client_id = ? AND state = 'pending'", clientID); err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// ReleaseDeliveries ends a hold: the held deliveries are due at `now`, in the
// order they were made or, with reverse, newest first. It returns how many
// were released; ErrNotFound if the client has no subscription.
func (s *Store) ReleaseDeliveries(ctx context.Context, clientID string, reverse bool, now time.Time) (int, error) {
	var n int64
	err := s.writeLog(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE event_subscriptions SET hold = 0 WHERE client_id = ?", clientID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return bank.ErrNotFound
		}
		if res, err = tx.ExecContext(ctx, `UPDATE event_deliveries SET state = 'pending', next_attempt_at = ?,
			ord = CASE WHEN CAST(? AS INTEGER) <> 0 THEN -id ELSE 0 END WHERE client_id = ? AND state = 'held'`, ms(now), reverse, clientID); err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
