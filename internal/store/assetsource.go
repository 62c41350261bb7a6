package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// ErrVersionConflict is wrapped when a catalog states a version number that
// is already stored with other content.
var ErrVersionConflict = errors.New("version already stored with other content")

// PutAssetVersion stores a as the version its own catalog numbered it
// (an external catalog's revision), where PutAsset numbers versions itself.
// Storing the same content under the same number again changes nothing; a
// different content under a stored number is refused with
// ErrVersionConflict, since deliveries of that version must keep sending
// what it was. The asset's newest version (GetAsset) is the highest
// number stored.
func (s *Store) PutAssetVersion(ctx context.Context, a domain.Asset, version int) error {
	if version < 1 {
		return fmt.Errorf("store: put asset %s: version %d: want 1 or more", a.ID, version)
	}
	a.Version = 0
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("store: asset %s: %w", a.ID, err)
	}
	hash := a.ContentHash()
	err = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := formatTime(s.Now())
		// DO NOTHING, then read back: a concurrent writer of the same
		// version (another process looking the same asset up) is not an
		// error when it stored the same content.
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_asset_versions (asset_id, version, hash, body, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (asset_id, version) DO NOTHING`), a.ID, version, hash, string(body), now); err != nil {
			return err
		}
		var stored string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT hash FROM syn_asset_versions WHERE asset_id = ? AND version = ?`), a.ID, version).Scan(&stored); err != nil {
			return err
		}
		if stored != hash {
			return fmt.Errorf("asset %q version %d: %w (the catalog changed the asset without a new version)", a.ID, version, ErrVersionConflict)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_assets (id, version, hash, body, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, hash = excluded.hash, body = excluded.body, updated_at = excluded.updated_at
			WHERE excluded.version > syn_assets.version`), a.ID, version, hash, string(body), now)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrVersionConflict) {
			return err
		}
		return fmt.Errorf("store: put asset %s version %d: %w", a.ID, version, err)
	}
	return nil
}
