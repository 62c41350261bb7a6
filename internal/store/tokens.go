package store

import (
	"context"
	"fmt"
)

// AddToken stores the hash of an API token (never the token itself).
func (s *Store) AddToken(ctx context.Context, hash, name string) error {
	_, err := s.exec(ctx, `INSERT INTO syn_api_tokens (hash, name, created_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		hash, name, formatTime(s.Now()))
	if err != nil {
		return fmt.Errorf("store: add token: %w", err)
	}
	return nil
}

// CountTokens returns how many API tokens exist.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM syn_api_tokens`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count tokens: %w", err)
	}
	return n, nil
}

// TokenExists reports whether a token with this hash was stored.
func (s *Store) TokenExists(ctx context.Context, hash string) (bool, error) {
	var n int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM syn_api_tokens WHERE hash = ?`, hash).Scan(&n); err != nil {
		return false, fmt.Errorf("store: token: %w", err)
	}
	return n > 0, nil
}
