package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DeadLetter is an event a sink did not take after its max attempts. A
// row lives until the event reaches the sink: ReplayDeadLetters stamps
// ReplayedAt, the dispatcher then sends the event again before any new
// one, and deletes the row once the sink takes it (or clears ReplayedAt
// and records the new error if the sink refuses it again).
type DeadLetter struct {
	ID         int64      `json:"id"`
	SinkID     string     `json:"sink_id"`
	PubSeq     int64      `json:"cursor"`
	EventID    string     `json:"event_id"`
	EventType  string     `json:"type"`
	Subject    string     `json:"subject"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
	// Event is filled for the dispatcher (PendingReplays) only.
	Event *Event `json:"-"`
}

// DeadLetter records that the sink gave up on the event at pubSeq and
// moves the sink's cursor past it, in one transaction.
func (s *Store) DeadLetter(ctx context.Context, sinkID string, pubSeq int64, msg string) error {
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_dead_letters (sink_id, event_pub_seq, error, created_at) VALUES (?, ?, ?, ?)`),
			sinkID, pubSeq, msg, formatTime(s.Now()))
		if err != nil {
			return fmt.Errorf("store: dead letter: %w", err)
		}
		if err := s.advanceSink(ctx, tx, sinkID, pubSeq); err != nil {
			return err
		}
		// Keep the reason visible on the sink until its next success.
		_, err = tx.ExecContext(ctx, s.q(`UPDATE syn_sinks SET last_error = ? WHERE id = ?`), msg, sinkID)
		return err
	})
}

const deadLetterQuery = `SELECT d.id, d.sink_id, d.event_pub_seq, d.error, d.created_at, d.replayed_at,
	e.seq, e.pub_seq, e.id, e.type, e.subject, e.partner_id, e.time, e.data, e.traceparent
	FROM syn_dead_letters d JOIN syn_events e ON e.pub_seq = d.event_pub_seq`

// ListDeadLetters returns a sink's dead letters in publication order.
func (s *Store) ListDeadLetters(ctx context.Context, sinkID string) ([]DeadLetter, error) {
	return s.deadLetters(ctx, deadLetterQuery+` WHERE d.sink_id = ? ORDER BY d.event_pub_seq, d.id`, sinkID)
}

// PendingReplays returns up to limit of a sink's dead letters that were
// asked to be replayed, in publication order, with their events.
func (s *Store) PendingReplays(ctx context.Context, sinkID string, limit int) ([]DeadLetter, error) {
	return s.deadLetters(ctx, deadLetterQuery+fmt.Sprintf(` WHERE d.sink_id = ? AND d.replayed_at IS NOT NULL
		ORDER BY d.event_pub_seq, d.id LIMIT %d`, limit), sinkID)
}

// ReplayDeadLetters asks the dispatcher to send a sink's dead letters
// again and returns how many it queued.
func (s *Store) ReplayDeadLetters(ctx context.Context, sinkID string) (int, error) {
	if _, err := s.GetSink(ctx, sinkID); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, `UPDATE syn_dead_letters SET replayed_at = ? WHERE sink_id = ? AND replayed_at IS NULL`,
		formatTime(s.Now()), sinkID)
	if err != nil {
		return 0, fmt.Errorf("store: replay dead letters: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ReplayDone deletes a dead letter whose event the sink has now taken,
// and clears the sink's failure state.
func (s *Store) ReplayDone(ctx context.Context, dl DeadLetter) error {
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syn_dead_letters WHERE id = ?`), dl.ID); err != nil {
			return fmt.Errorf("store: replay done: %w", err)
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE syn_sinks SET attempts = 0, next_attempt_at = '', last_error = '' WHERE id = ?`), dl.SinkID)
		return err
	})
}

// ReplayFailed puts a replayed event back among the dead letters with the
// new error, and clears the sink's failure count for the next event.
func (s *Store) ReplayFailed(ctx context.Context, dl DeadLetter, msg string) error {
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE syn_dead_letters SET replayed_at = NULL, error = ? WHERE id = ?`), msg, dl.ID); err != nil {
			return fmt.Errorf("store: replay failed: %w", err)
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE syn_sinks SET attempts = 0, next_attempt_at = '', last_error = ? WHERE id = ?`), msg, dl.SinkID)
		return err
	})
}

func (s *Store) deadLetters(ctx context.Context, query string, args ...any) ([]DeadLetter, error) {
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var e Event
		var created, t, data string
		var replayed sql.NullString
		if err := rows.Scan(&d.ID, &d.SinkID, &d.PubSeq, &d.Error, &created, &replayed,
			&e.Seq, &e.PubSeq, &e.ID, &e.Type, &e.Subject, &e.PartnerID, &t, &data, &e.TraceParent); err != nil {
			return nil, fmt.Errorf("store: dead letters: %w", err)
		}
		d.CreatedAt, d.ReplayedAt = parseTime(created), parseTimePtr(replayed)
		e.Time, e.Data = parseTime(t), []byte(data)
		d.EventID, d.EventType, d.Subject, d.Event = e.ID, e.Type, e.Subject, &e
		out = append(out, d)
	}
	return out, rows.Err()
}
