package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, once each; never edit one that shipped,
// add a new one. The SQL is common to SQLite and PostgreSQL. Every table is
// prefixed syn_: on SQLite the engine's tables share one namespace with
// ours (DBOS has its own "notifications").
var migrations = []string{
	`CREATE TABLE syn_assets (
		id TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		hash TEXT NOT NULL,
		body TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE syn_asset_versions (
		asset_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		hash TEXT NOT NULL,
		body TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (asset_id, version)
	);
	CREATE TABLE syn_partners (
		id TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		body TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE syn_notifications (
		idempotency_key TEXT PRIMARY KEY,
		request_hash TEXT NOT NULL,
		response TEXT NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE TABLE syn_deliveries (
		id TEXT PRIMARY KEY,
		asset_id TEXT NOT NULL,
		asset_version INTEGER NOT NULL,
		partner_id TEXT NOT NULL,
		action TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		files INTEGER NOT NULL DEFAULT 0,
		bytes BIGINT NOT NULL DEFAULT 0,
		location TEXT NOT NULL DEFAULT '',
		last_error TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL,
		started_at TEXT,
		finished_at TEXT
	);
	CREATE INDEX deliveries_partner ON syn_deliveries (partner_id, created_at);
	CREATE INDEX deliveries_asset ON syn_deliveries (asset_id, partner_id, created_at);
	CREATE INDEX deliveries_status ON syn_deliveries (status, created_at);
	CREATE TABLE syn_api_tokens (
		hash TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		created_at TEXT NOT NULL
	);`,
}

// migrate applies the migrations not applied yet, under a lock so that
// several processes starting at once on PostgreSQL do not race.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	if s.Dialect == Postgres {
		// Released when the connection closes, at the latest.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7152030811)`); err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7152030811)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS syn_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM syn_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("store: database is at migration %d, this binary knows %d: upgrade syndicate", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if err := applyMigration(ctx, tx, s, v); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, s *Store, v int) error {
	if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_migrations (version, applied_at) VALUES (?, ?)`), v, formatTime(s.Now()))
	return err
}
