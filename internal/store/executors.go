package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Executor is a Syndicate process as its heartbeats show it.
type Executor struct {
	ID          string     `json:"id"`
	Role        string     `json:"role"`
	StartedAt   time.Time  `json:"started_at"`
	LastSeen    time.Time  `json:"last_seen"`
	TakenOverAt *time.Time `json:"taken_over_at,omitempty"`
	TakenOverBy string     `json:"taken_over_by,omitempty"`
}

// Heartbeat records that executor id is alive. A process coming back
// after a takeover is alive again and owns nothing it had.
func (s *Store) Heartbeat(ctx context.Context, id, role string, started time.Time) error {
	now := formatTime(s.Now())
	_, err := s.exec(ctx, `INSERT INTO syn_executors (id, role, started_at, last_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET role = excluded.role, started_at = excluded.started_at, last_seen = excluded.last_seen,
		taken_over_at = NULL, taken_over_by = ''`, id, role, formatTime(started), now)
	if err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	return nil
}

// Executors lists every process seen, newest heartbeat first.
func (s *Store) Executors(ctx context.Context) ([]Executor, error) {
	rows, err := s.readRows(ctx, `SELECT id, role, started_at, last_seen, taken_over_at, taken_over_by FROM syn_executors ORDER BY last_seen DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: executors: %w", err)
	}
	defer rows.Close()
	var out []Executor
	for rows.Next() {
		var e Executor
		var started, seen string
		var taken sql.NullString
		if err := rows.Scan(&e.ID, &e.Role, &started, &seen, &taken, &e.TakenOverBy); err != nil {
			return nil, err
		}
		e.StartedAt, e.LastSeen, e.TakenOverAt = parseTime(started), parseTime(seen), parseTimePtr(taken)
		out = append(out, e)
	}
	return out, rows.Err()
}

// TakeOverDead finds workers silent since before deadBefore that no one
// has taken over, lets recover run their workflows here, and marks them
// taken over by self — all under one lock, so two live processes never
// take over the same dead one. recover gets the dead executors' ids.
func (s *Store) TakeOverDead(ctx context.Context, self string, deadBefore time.Time, recover func(ids []string) error) ([]string, error) {
	var dead []string
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.Dialect == Postgres {
			var got bool
			if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, LockTakeover).Scan(&got); err != nil || !got {
				return err // another process is the leader right now
			}
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM syn_executors
			WHERE role <> 'api' AND taken_over_at IS NULL AND last_seen < ? AND id <> ?`), formatTime(deadBefore), self)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			dead = append(dead, id)
		}
		rows.Close()
		if len(dead) == 0 {
			return rows.Err()
		}
		if err := recover(dead); err != nil {
			return err
		}
		for _, id := range dead {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE syn_executors SET taken_over_at = ?, taken_over_by = ? WHERE id = ?`),
				formatTime(s.Now()), self, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take over: %w", err)
	}
	return dead, nil
}
