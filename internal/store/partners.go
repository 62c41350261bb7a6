package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// PutPartner stores a profile and returns its new version number; storing
// an identical profile again keeps the version.
func (s *Store) PutPartner(ctx context.Context, p domain.Partner) (int, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("store: partner %s: %w", p.ID, err)
	}
	var version int
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, s.q(`SELECT version, body FROM syn_partners WHERE id = ?`), p.ID).Scan(&version, &old)
		switch {
		case err == nil && old == string(body):
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		version++
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_partners (id, version, body, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body, updated_at = excluded.updated_at`),
			p.ID, version, string(body), formatTime(s.Now()))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: put partner %s: %w", p.ID, err)
	}
	return version, nil
}

// GetPartner returns a partner profile with defaults applied.
func (s *Store) GetPartner(ctx context.Context, id string) (domain.Partner, error) {
	var body string
	err := s.DB.QueryRowContext(ctx, s.q(`SELECT body FROM syn_partners WHERE id = ?`), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Partner{}, fmt.Errorf("partner %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return domain.Partner{}, fmt.Errorf("store: get partner %s: %w", id, err)
	}
	return decodePartner(body)
}

// ListPartners returns every partner, ordered by id.
func (s *Store) ListPartners(ctx context.Context) ([]domain.Partner, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT body FROM syn_partners ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list partners: %w", err)
	}
	defer rows.Close()
	var out []domain.Partner
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("store: list partners: %w", err)
		}
		p, err := decodePartner(body)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func decodePartner(body string) (domain.Partner, error) {
	var p domain.Partner
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return p, fmt.Errorf("store: decode partner: %w", err)
	}
	p.Defaults()
	return p, nil
}
