package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Callback states: open accepts heartbeats and the final answer; done
// and expired refuse everything.
const (
	CallbackOpen    = "open"
	CallbackDone    = "done"
	CallbackExpired = "expired"
)

// Callback is an external job's single-use callback token, by hash.
type Callback struct {
	TokenHash  string
	DeliveryID string
	WorkflowID string
	State      string
	CreatedAt  time.Time
	Deadline   time.Time
	LastSeen   time.Time
}

// AddCallback records a new open callback token.
func (s *Store) AddCallback(ctx context.Context, c Callback) error {
	now := formatTime(s.Now())
	_, err := s.exec(ctx, `INSERT INTO syn_callbacks (token_hash, delivery_id, workflow_id, state, created_at, deadline, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.TokenHash, c.DeliveryID, c.WorkflowID, CallbackOpen, now, formatTime(c.Deadline), now)
	if err != nil {
		return fmt.Errorf("store: add callback: %w", err)
	}
	return nil
}

// GetCallbackTx reads a callback by token hash inside tx.
func (s *Store) GetCallbackTx(ctx context.Context, tx *sql.Tx, hash string) (Callback, error) {
	var c Callback
	var created, deadline, seen string
	err := tx.QueryRowContext(ctx, s.q(`SELECT token_hash, delivery_id, workflow_id, state, created_at, deadline, last_seen
		FROM syn_callbacks WHERE token_hash = ?`+s.forUpdate()), hash).
		Scan(&c.TokenHash, &c.DeliveryID, &c.WorkflowID, &c.State, &created, &deadline, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: callback: %w", err)
	}
	c.CreatedAt, c.Deadline, c.LastSeen = parseTime(created), parseTime(deadline), parseTime(seen)
	return c, nil
}

// SetCallbackStateTx moves a callback to state (and records it was seen).
func (s *Store) SetCallbackStateTx(ctx context.Context, tx *sql.Tx, hash, state string) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE syn_callbacks SET state = ?, last_seen = ? WHERE token_hash = ?`), state, formatTime(s.Now()), hash)
	if err != nil {
		return fmt.Errorf("store: callback: %w", err)
	}
	return nil
}

// ExpireCallbacks closes every open callback of a delivery: a late answer
// is then refused.
func (s *Store) ExpireCallbacks(ctx context.Context, deliveryID string) error {
	_, err := s.exec(ctx, `UPDATE syn_callbacks SET state = ? WHERE delivery_id = ? AND state = ?`,
		CallbackExpired, deliveryID, CallbackOpen)
	if err != nil {
		return fmt.Errorf("store: expire callbacks: %w", err)
	}
	return nil
}

// forUpdate locks the row read on PostgreSQL; SQLite's write transactions
// are already exclusive (_txlock=immediate).
func (s *Store) forUpdate() string {
	if s.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
