package store

import (
	"context"
	"fmt"
)

// RecordCommit notes that a delivery's run committed the file name at the
// partner (recording it again is not an error).
func (s *Store) RecordCommit(ctx context.Context, deliveryID string, run int, name string) error {
	_, err := s.exec(ctx, `INSERT INTO syn_delivery_commits (delivery_id, run, name, committed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (delivery_id, run, name) DO NOTHING`, deliveryID, run, name, formatTime(s.Now()))
	if err != nil {
		return fmt.Errorf("store: record commit: %w", err)
	}
	return nil
}

// Commits returns the files a delivery's run has committed at the partner.
func (s *Store) Commits(ctx context.Context, deliveryID string, run int) (map[string]bool, error) {
	rows, err := s.readRows(ctx, `SELECT name FROM syn_delivery_commits WHERE delivery_id = ? AND run = ?`, deliveryID, run)
	if err != nil {
		return nil, fmt.Errorf("store: commits: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// DeleteCommits forgets a finished delivery's commit records.
func (s *Store) DeleteCommits(ctx context.Context, deliveryID string) error {
	if _, err := s.exec(ctx, `DELETE FROM syn_delivery_commits WHERE delivery_id = ?`, deliveryID); err != nil {
		return fmt.Errorf("store: delete commits: %w", err)
	}
	return nil
}
