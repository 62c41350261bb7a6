package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// Event is one entry of the outbox: a delivery's change of state, written
// in the transaction that made the change. PubSeq is 0 until the
// dispatcher stamps it; stamped events have a gap-free publication order
// that pull consumers page through (GET /v1/events?after=PubSeq).
type Event struct {
	Seq         int64           `json:"-"`
	PubSeq      int64           `json:"cursor"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Subject     string          `json:"subject"`
	PartnerID   string          `json:"partner_id"`
	Time        time.Time       `json:"time"`
	Data        json.RawMessage `json:"data"`
	TraceParent string          `json:"traceparent,omitempty"`
}

// EventType names the event for a delivery status or ack, e.g.
// "syndicate.delivery.delivered", "syndicate.delivery.rejected".
func EventType(state string) string { return "syndicate.delivery." + state }

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, typ string, d domain.Delivery) error {
	return s.insertEventData(ctx, tx, typ, d.ID, d.PartnerID, d)
}

// insertEventData writes any event into the outbox inside tx; subject is
// what the event is about (a delivery id, a partner id). A delivery's
// event carries the delivery's traceparent, so consumers join its trace.
func (s *Store) insertEventData(ctx context.Context, tx *sql.Tx, typ, subject, partnerID string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var traceparent string
	if d, ok := v.(domain.Delivery); ok {
		traceparent = d.TraceParent
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_events (id, type, subject, partner_id, time, data, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		uuid.Must(uuid.NewV7()).String(), typ, subject, partnerID, formatTime(s.Now()), string(data), traceparent)
	if err != nil {
		return fmt.Errorf("store: insert event: %w", err)
	}
	return nil
}

// StampEvents gives up to limit unstamped events, oldest first, the next
// publication numbers, and returns how many it stamped. Stampers are
// serialized (SQLite: one writer; PostgreSQL: a transaction lock), so the
// publication order has no gaps and never changes once read.
func (s *Store) StampEvents(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.Dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, LockStamp); err != nil {
				return err
			}
		}
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(pub_seq), 0) FROM syn_events`).Scan(&next); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT seq FROM syn_events WHERE pub_seq IS NULL ORDER BY seq LIMIT ?`), limit)
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		for _, seq := range seqs {
			next++
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE syn_events SET pub_seq = ? WHERE seq = ?`), next, seq); err != nil {
				return err
			}
		}
		n = len(seqs)
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("store: stamp events: %w", err)
	}
	return n, nil
}

// EventsAfter returns up to limit stamped events with PubSeq > cursor, in
// publication order.
func (s *Store) EventsAfter(ctx context.Context, cursor int64, limit int) ([]Event, error) {
	return s.queryEvents(ctx, `WHERE pub_seq > ? ORDER BY pub_seq LIMIT ?`, cursor, limit)
}

// queryEvents selects events (PubSeq 0 when not yet stamped).
func (s *Store) queryEvents(ctx context.Context, where string, args ...any) ([]Event, error) {
	rows, err := s.readRows(ctx, `SELECT seq, COALESCE(pub_seq, 0), id, type, subject, partner_id, time, data, traceparent
		FROM syn_events `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var t, data string
		if err := rows.Scan(&e.Seq, &e.PubSeq, &e.ID, &e.Type, &e.Subject, &e.PartnerID, &t, &data, &e.TraceParent); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.Time, e.Data = parseTime(t), json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}
