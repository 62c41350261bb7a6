package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
	// 2: the event outbox, partner feedback and its keys, event sinks.
	`CREATE TABLE syn_events (
		seq {{serial}},
		id TEXT NOT NULL UNIQUE,
		type TEXT NOT NULL,
		subject TEXT NOT NULL,
		partner_id TEXT NOT NULL,
		time TEXT NOT NULL,
		data TEXT NOT NULL,
		traceparent TEXT NOT NULL DEFAULT '',
		pub_seq BIGINT UNIQUE
	);
	CREATE INDEX syn_events_pub ON syn_events (pub_seq, seq);
	ALTER TABLE syn_deliveries ADD COLUMN ack TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_deliveries ADD COLUMN ack_reason TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_deliveries ADD COLUMN ack_at TEXT;
	ALTER TABLE syn_deliveries ADD COLUMN partner_ref TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_deliveries ADD COLUMN redelivery_of TEXT NOT NULL DEFAULT '';
	CREATE INDEX syn_deliveries_ack ON syn_deliveries (status, ack, finished_at);
	CREATE TABLE syn_partner_keys (
		id TEXT PRIMARY KEY,
		partner_id TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_at TEXT NOT NULL,
		expires_at TEXT,
		revoked_at TEXT
	);
	CREATE TABLE syn_feedback (
		id TEXT PRIMARY KEY,
		delivery_id TEXT NOT NULL,
		partner_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		partner_ref TEXT NOT NULL DEFAULT '',
		source TEXT NOT NULL,
		dedup TEXT NOT NULL UNIQUE,
		received_at TEXT NOT NULL
	);
	CREATE INDEX syn_feedback_delivery ON syn_feedback (delivery_id, received_at);
	CREATE TABLE syn_sinks (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		target TEXT NOT NULL,
		secret_ref TEXT NOT NULL DEFAULT '',
		types TEXT NOT NULL DEFAULT '[]',
		partners TEXT NOT NULL DEFAULT '[]',
		cursor BIGINT NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		max_attempts INTEGER NOT NULL DEFAULT 20,
		next_attempt_at TEXT NOT NULL DEFAULT '',
		last_error TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL
	);
	CREATE TABLE syn_dead_letters (
		id {{serial}},
		sink_id TEXT NOT NULL,
		event_pub_seq BIGINT NOT NULL,
		error TEXT NOT NULL,
		created_at TEXT NOT NULL,
		replayed_at TEXT
	);`,
	// 3: signed feedback requests already seen (replay protection).
	`CREATE TABLE syn_signatures (
		signature TEXT PRIMARY KEY,
		seen_at TEXT NOT NULL
	);`,
	// 4: immutable partner profile versions, gradual rollout, and the
	// profile version each delivery used.
	`CREATE TABLE syn_partner_versions (
		partner_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		body TEXT NOT NULL,
		author TEXT NOT NULL,
		message TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (partner_id, version)
	);
	INSERT INTO syn_partner_versions (partner_id, version, body, author, message, created_at)
		SELECT id, version, body, 'migration', 'version before history was kept', updated_at FROM syn_partners;
	ALTER TABLE syn_partners ADD COLUMN candidate INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE syn_partners ADD COLUMN rollout_percent INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE syn_partners ADD COLUMN rollout_started_at TEXT;
	ALTER TABLE syn_partners ADD COLUMN rollout_log TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE syn_deliveries ADD COLUMN partner_version INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX syn_deliveries_pv ON syn_deliveries (partner_id, partner_version, finished_at);`,
	// 5: live transfer figures, queue priority, and the run counter that
	// gives a retried delivery a new workflow.
	`ALTER TABLE syn_deliveries ADD COLUMN total_bytes BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE syn_deliveries ADD COLUMN rate BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE syn_deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE syn_deliveries ADD COLUMN run INTEGER NOT NULL DEFAULT 0;`,
	// 6: the next free transfer start per partner (starts_per_minute).
	`CREATE TABLE syn_partner_pace (
		partner_id TEXT PRIMARY KEY,
		next_at TEXT NOT NULL
	);`,
	// 7: process heartbeats, for taking over a dead worker's deliveries.
	`CREATE TABLE syn_executors (
		id TEXT PRIMARY KEY,
		role TEXT NOT NULL,
		started_at TEXT NOT NULL,
		last_seen TEXT NOT NULL,
		taken_over_at TEXT,
		taken_over_by TEXT NOT NULL DEFAULT ''
	);`,
	// 8: tracing — each delivery's trace, and the built-in trace store
	// (the primary key serves lookups by trace_id; start_ns serves retention).
	`ALTER TABLE syn_deliveries ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
	CREATE TABLE syn_spans (
		trace_id TEXT NOT NULL,
		span_id TEXT NOT NULL,
		parent_id TEXT NOT NULL DEFAULT '',
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		start_ns BIGINT NOT NULL,
		end_ns BIGINT NOT NULL DEFAULT 0,
		status TEXT NOT NULL,
		status_message TEXT NOT NULL DEFAULT '',
		process TEXT NOT NULL DEFAULT '',
		attributes TEXT NOT NULL DEFAULT '{}',
		events TEXT NOT NULL DEFAULT '[]',
		PRIMARY KEY (trace_id, span_id)
	);
	CREATE INDEX syn_spans_start ON syn_spans (start_ns);`,
	// 9: a delivery's events are read by subject (delivery page, UI).
	`CREATE INDEX syn_events_subject ON syn_events (subject, seq);`,
	// 10: single-use callback tokens of external transcode jobs (hashes only).
	`CREATE TABLE syn_callbacks (
		token_hash TEXT PRIMARY KEY,
		delivery_id TEXT NOT NULL,
		workflow_id TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at TEXT NOT NULL,
		deadline TEXT NOT NULL,
		last_seen TEXT NOT NULL
	);
	CREATE INDEX syn_callbacks_delivery ON syn_callbacks (delivery_id);`,
	// 11: notifications are accepted first (group-committed) and decided
	// later: the table is the decider's durable queue. Rows from before
	// were decided when accepted; their id is their key.
	`ALTER TABLE syn_notifications ADD COLUMN id TEXT;
	ALTER TABLE syn_notifications ADD COLUMN status TEXT NOT NULL DEFAULT 'decided';
	ALTER TABLE syn_notifications ADD COLUMN request TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE syn_notifications ADD COLUMN next_attempt_at TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN error TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_notifications ADD COLUMN decided_at TEXT NOT NULL DEFAULT '';
	UPDATE syn_notifications SET id = idempotency_key, decided_at = created_at;
	CREATE UNIQUE INDEX syn_notifications_id ON syn_notifications (id);
	CREATE INDEX syn_notifications_pending ON syn_notifications (next_attempt_at) WHERE status = 'accepted';`,
	// 12: files a delivery's run committed at the partner (renamed into
	// place), so a later attempt — e.g. by the worker that took the run
	// over — does not send them again.
	`CREATE TABLE syn_delivery_commits (
		delivery_id TEXT NOT NULL,
		run INTEGER NOT NULL,
		name TEXT NOT NULL,
		committed_at TEXT NOT NULL,
		PRIMARY KEY (delivery_id, run, name)
	);`,
	// 13: why a delivery exists: its scope and the changed fields, as JSON
	// {"scope": "full|metadata", "changes": [...]} ('' before this migration).
	`ALTER TABLE syn_deliveries ADD COLUMN change_set TEXT NOT NULL DEFAULT '';`,
	// 14: verified delivery: per file, how the partner was seen to hold it,
	// and the files whose resume the partner refused, as JSON
	// {"files": [...], "resume_refused": [...]}; and how each committed
	// file was verified, for an attempt that finds it committed.
	`ALTER TABLE syn_deliveries ADD COLUMN file_state TEXT NOT NULL DEFAULT '';
	ALTER TABLE syn_delivery_commits ADD COLUMN verified TEXT NOT NULL DEFAULT '';`,
}

// dialectSQL fills the few places where SQLite and PostgreSQL differ.
func (s *Store) dialectSQL(q string) string {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.Dialect == Postgres {
		serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return strings.ReplaceAll(q, "{{serial}}", serial)
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
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, LockMigrate); err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, LockMigrate)
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
	if _, err := tx.ExecContext(ctx, s.dialectSQL(migrations[v-1])); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_migrations (version, applied_at) VALUES (?, ?)`), v, formatTime(s.Now()))
	return err
}
