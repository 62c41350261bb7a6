package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Notification is an accepted notification as remembered for its
// idempotency key: a fingerprint of the request and the answer given.
type Notification struct {
	Key         string
	RequestHash string
	Response    []byte
}

// GetNotification returns the notification stored under key, or ErrNotFound.
func (s *Store) GetNotification(ctx context.Context, key string) (Notification, error) {
	n := Notification{Key: key}
	var resp string
	err := s.DB.QueryRowContext(ctx, s.q(`SELECT request_hash, response FROM syn_notifications WHERE idempotency_key = ?`), key).
		Scan(&n.RequestHash, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return n, ErrNotFound
	}
	if err != nil {
		return n, fmt.Errorf("store: get notification: %w", err)
	}
	n.Response = []byte(resp)
	return n, nil
}

// InsertNotification remembers n inside tx. A second insert of the same
// key fails (the primary key), which rolls back the loser's deliveries.
func (s *Store) InsertNotification(ctx context.Context, tx *sql.Tx, n Notification) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_notifications (idempotency_key, request_hash, response, created_at) VALUES (?, ?, ?, ?)`),
		n.Key, n.RequestHash, string(n.Response), formatTime(s.Now()))
	if err != nil {
		return fmt.Errorf("store: insert notification: %w", err)
	}
	return nil
}
