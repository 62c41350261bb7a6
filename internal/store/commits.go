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

// CommitVerifications returns, for each file a delivery's run committed,
// how it was verified at the partner ("" when no check was recorded).
func (s *Store) CommitVerifications(ctx context.Context, deliveryID string, run int) (map[string]string, error) {
	rows, err := s.readRows(ctx, `SELECT name, verified FROM syn_delivery_commits WHERE delivery_id = ? AND run = ?`, deliveryID, run)
	if err != nil {
		return nil, fmt.Errorf("store: commit verifications: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, rows.Err()
}

// RecordVerification notes how a committed file was verified at the
// partner.
func (s *Store) RecordVerification(ctx context.Context, deliveryID string, run int, name, verified string) error {
	_, err := s.exec(ctx, `UPDATE syn_delivery_commits SET verified = ? WHERE delivery_id = ? AND run = ? AND name = ?`,
		verified, deliveryID, run, name)
	if err != nil {
		return fmt.Errorf("store: record verification: %w", err)
	}
	return nil
}

// ForgetCommit drops a file's commit record: the partner was found not
// to hold what was sent, so a later attempt must send it again.
func (s *Store) ForgetCommit(ctx context.Context, deliveryID string, run int, name string) error {
	_, err := s.exec(ctx, `DELETE FROM syn_delivery_commits WHERE delivery_id = ? AND run = ? AND name = ?`, deliveryID, run, name)
	if err != nil {
		return fmt.Errorf("store: forget commit: %w", err)
	}
	return nil
}

// DeleteCommits forgets a finished delivery's commit records.
func (s *Store) DeleteCommits(ctx context.Context, deliveryID string) error {
	if _, err := s.exec(ctx, `DELETE FROM syn_delivery_commits WHERE delivery_id = ?`, deliveryID); err != nil {
		return fmt.Errorf("store: delete commits: %w", err)
	}
	return nil
}
