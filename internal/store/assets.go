package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// PutAsset stores a as the asset's newest version. An asset whose content
// did not change keeps its version (changed is false), so re-importing a
// catalog creates no work.
func (s *Store) PutAsset(ctx context.Context, a domain.Asset) (version int, changed bool, err error) {
	a.Version = 0 // the store numbers versions
	body, err := json.Marshal(a)
	if err != nil {
		return 0, false, fmt.Errorf("store: asset %s: %w", a.ID, err)
	}
	hash := a.ContentHash()
	err = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var oldHash string
		err := tx.QueryRowContext(ctx, s.q(`SELECT version, hash FROM syn_assets WHERE id = ?`), a.ID).Scan(&version, &oldHash)
		switch {
		case err == nil && oldHash == hash:
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		version++
		changed = true
		now := formatTime(s.Now())
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_asset_versions (asset_id, version, hash, body, created_at) VALUES (?, ?, ?, ?, ?)`),
			a.ID, version, hash, string(body), now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_assets (id, version, hash, body, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, hash = excluded.hash, body = excluded.body, updated_at = excluded.updated_at`),
			a.ID, version, hash, string(body), now)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: put asset %s: %w", a.ID, err)
	}
	return version, changed, nil
}

// GetAsset returns the newest version of an asset.
func (s *Store) GetAsset(ctx context.Context, id string) (domain.Asset, int, error) {
	var body string
	var version int
	err := s.readRow(ctx, `SELECT version, body FROM syn_assets WHERE id = ?`, id).Scan(&version, &body)
	a, err := decodeAsset(id, body, err)
	a.Version = version
	return a, version, err
}

// GetAssetVersion returns one stored version (snapshot) of an asset.
func (s *Store) GetAssetVersion(ctx context.Context, id string, version int) (domain.Asset, error) {
	return assetVersion(s.readRow(ctx, assetVersionQuery, id, version), id, version)
}

// GetAssetVersionTx is GetAssetVersion inside tx.
func (s *Store) GetAssetVersionTx(ctx context.Context, tx *sql.Tx, id string, version int) (domain.Asset, error) {
	return assetVersion(s.txQueryRow(ctx, tx, assetVersionQuery, id, version), id, version)
}

const assetVersionQuery = `SELECT body FROM syn_asset_versions WHERE asset_id = ? AND version = ?`

func assetVersion(r row, id string, version int) (domain.Asset, error) {
	var body string
	err := r.Scan(&body)
	a, err := decodeAsset(id, body, err)
	if err == nil {
		a.Version = version
	}
	return a, err
}

func decodeAsset(id, body string, err error) (domain.Asset, error) {
	var a domain.Asset
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("asset %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("store: get asset %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return a, fmt.Errorf("store: decode asset %s: %w", id, err)
	}
	return a, nil
}
