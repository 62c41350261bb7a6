package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sink is a destination the event dispatcher publishes the outbox to: a
// webhook (Target is its http(s) URL) or a NATS JetStream subject prefix
// (Target is nats://host:port/prefix). Cursor is the publication number of
// the last event the sink took or skipped; Attempts, NextAttemptAt and
// LastError describe the failures since the cursor last moved.
type Sink struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	Target        string     `json:"url"`
	SecretRef     string     `json:"secret,omitempty"`
	Types         []string   `json:"types"`
	Partners      []string   `json:"partners"`
	Cursor        int64      `json:"cursor"`
	Attempts      int        `json:"attempts"`
	MaxAttempts   int        `json:"max_attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// The sink kinds.
const (
	SinkWebhook = "webhook"
	SinkNATS    = "nats"
)

// DefaultSinkMaxAttempts is used when a sink is added without a limit.
const DefaultSinkMaxAttempts = 20

const sinkColumns = `id, kind, target, secret_ref, types, partners, cursor, attempts, max_attempts, next_attempt_at, last_error, created_at`

// AddSink stores a new sink and returns it with its id. A new sink starts
// at the head of the published events: it receives what is published after
// it was added (older events stay readable at GET /v1/events).
func (s *Store) AddSink(ctx context.Context, k Sink) (Sink, error) {
	k.ID = uuid.Must(uuid.NewV7()).String()
	k.CreatedAt = s.Now()
	if k.MaxAttempts <= 0 {
		k.MaxAttempts = DefaultSinkMaxAttempts
	}
	k.Types, k.Partners = nonNil(k.Types), nonNil(k.Partners)
	types, _ := json.Marshal(k.Types)
	partners, _ := json.Marshal(k.Partners)
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(pub_seq), 0) FROM syn_events`).Scan(&k.Cursor); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_sinks (`+sinkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, '', '', ?)`),
			k.ID, k.Kind, k.Target, k.SecretRef, string(types), string(partners), k.Cursor, k.MaxAttempts, formatTime(k.CreatedAt))
		return err
	})
	if err != nil {
		return Sink{}, fmt.Errorf("store: add sink: %w", err)
	}
	return k, nil
}

// GetSink returns one sink.
func (s *Store) GetSink(ctx context.Context, id string) (Sink, error) {
	k, err := scanSink(s.readRow(ctx, `SELECT `+sinkColumns+` FROM syn_sinks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("sink %q: %w", id, ErrNotFound)
	}
	return k, err
}

// ListSinks returns every sink, oldest first.
func (s *Store) ListSinks(ctx context.Context) ([]Sink, error) {
	rows, err := s.readRows(ctx, `SELECT `+sinkColumns+` FROM syn_sinks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list sinks: %w", err)
	}
	defer rows.Close()
	out := []Sink{}
	for rows.Next() {
		k, err := scanSink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteSink removes a sink and its dead letters.
func (s *Store) DeleteSink(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM syn_sinks WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("store: delete sink: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sink %q: %w", id, ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM syn_dead_letters WHERE sink_id = ?`), id)
		return err
	})
}

// AdvanceSink moves a sink's cursor forward to cursor (never back) and
// clears its failure state: the events up to cursor were taken or skipped.
func (s *Store) AdvanceSink(ctx context.Context, id string, cursor int64) error {
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.advanceSink(ctx, tx, id, cursor) })
}

func (s *Store) advanceSink(ctx context.Context, tx *sql.Tx, id string, cursor int64) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE syn_sinks SET cursor = CASE WHEN cursor < ? THEN ? ELSE cursor END,
		attempts = 0, next_attempt_at = '', last_error = '' WHERE id = ?`), cursor, cursor, id)
	if err != nil {
		return fmt.Errorf("store: advance sink %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sink %q: %w", id, ErrNotFound)
	}
	return nil
}

// RecordSinkFailure notes a failed send: the consecutive failures so far,
// when to try again, and the error (which must hold no secret).
func (s *Store) RecordSinkFailure(ctx context.Context, id string, attempts int, next time.Time, msg string) error {
	res, err := s.exec(ctx, `UPDATE syn_sinks SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?`,
		attempts, formatTime(next), msg, id)
	if err != nil {
		return fmt.Errorf("store: sink %s failure: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sink %q: %w", id, ErrNotFound)
	}
	return nil
}

// EventFilter selects published events: those after cursor After whose
// type is in Types and partner in Partners (an empty list matches all).
type EventFilter struct {
	After    int64
	Limit    int // default 100, at most 1000
	Types    []string
	Partners []string
}

// MatchingEvents returns up to f.Limit published events that match f, in
// publication order, and the cursor to continue from: the last event
// returned when the page is full, otherwise the newest publication number
// it looked at, so that a filtered reader steps over what does not match
// instead of reading it again.
func (s *Store) MatchingEvents(ctx context.Context, f EventFilter) ([]Event, int64, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	// The head is read first: every event up to it is already stamped, and
	// stamping only appends, so nothing at or below it can appear later.
	var head int64
	if err := s.readRow(ctx, `SELECT COALESCE(MAX(pub_seq), 0) FROM syn_events`).Scan(&head); err != nil {
		return nil, 0, fmt.Errorf("store: events head: %w", err)
	}
	where := []string{"pub_seq > ?", "pub_seq <= ?"}
	args := []any{f.After, head}
	for col, list := range map[string][]string{"type": f.Types, "partner_id": f.Partners} {
		if len(list) == 0 {
			continue
		}
		where = append(where, col+" IN (?"+strings.Repeat(", ?", len(list)-1)+")")
		for _, v := range list {
			args = append(args, v)
		}
	}
	rows, err := s.readRows(ctx, `SELECT seq, pub_seq, id, type, subject, partner_id, time, data, traceparent
		FROM syn_events WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY pub_seq LIMIT %d`, f.Limit), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: events: %w", err)
	}
	next := max(head, f.After)
	if len(out) == f.Limit {
		next = out[len(out)-1].PubSeq
	}
	return out, next, nil
}

// HasUnstampedEvents reports whether StampEvents has work, without taking
// a write lock.
func (s *Store) HasUnstampedEvents(ctx context.Context) (bool, error) {
	var n int
	err := s.readRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM syn_events WHERE pub_seq IS NULL LIMIT 1) AS u`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: unstamped events: %w", err)
	}
	return n > 0, nil
}

func scanEvent(row scanner) (Event, error) {
	var e Event
	var t, data string
	if err := row.Scan(&e.Seq, &e.PubSeq, &e.ID, &e.Type, &e.Subject, &e.PartnerID, &t, &data, &e.TraceParent); err != nil {
		return e, fmt.Errorf("store: scan event: %w", err)
	}
	e.Time, e.Data = parseTime(t), json.RawMessage(data)
	return e, nil
}

func scanSink(row scanner) (Sink, error) {
	var k Sink
	var types, partners, next, created string
	err := row.Scan(&k.ID, &k.Kind, &k.Target, &k.SecretRef, &types, &partners, &k.Cursor, &k.Attempts, &k.MaxAttempts,
		&next, &k.LastError, &created)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return k, err
		}
		return k, fmt.Errorf("store: scan sink: %w", err)
	}
	if err := json.Unmarshal([]byte(types), &k.Types); err != nil {
		return k, fmt.Errorf("store: sink %s types: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(partners), &k.Partners); err != nil {
		return k, fmt.Errorf("store: sink %s partners: %w", k.ID, err)
	}
	k.Types, k.Partners = nonNil(k.Types), nonNil(k.Partners)
	if next != "" {
		t := parseTime(next)
		k.NextAttemptAt = &t
	}
	k.CreatedAt = parseTime(created)
	return k, nil
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
