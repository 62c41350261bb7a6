package store

import (
	"context"
	"fmt"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// The read-only queries behind the operator web UI (internal/ui).

// CountByStatus returns how many deliveries are in each status.
func (s *Store) CountByStatus(ctx context.Context) (map[domain.Status]int, error) {
	rows, err := s.readRows(ctx, `SELECT status, COUNT(*) FROM syn_deliveries GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: count deliveries: %w", err)
	}
	defer rows.Close()
	out := map[domain.Status]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("store: count deliveries: %w", err)
		}
		out[domain.Status(status)] = n
	}
	return out, rows.Err()
}

// Finished is a delivery's end: when it reached status and how many bytes
// it had sent by then.
type Finished struct {
	At    time.Time
	Bytes int64
}

// FinishedSince returns when each delivery that ended in status after
// since did so, oldest first.
func (s *Store) FinishedSince(ctx context.Context, status domain.Status, since time.Time) ([]Finished, error) {
	rows, err := s.readRows(ctx, `SELECT finished_at, bytes FROM syn_deliveries
		WHERE status = ? AND finished_at >= ? ORDER BY finished_at`, string(status), formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("store: finished deliveries: %w", err)
	}
	defer rows.Close()
	var out []Finished
	for rows.Next() {
		var f Finished
		var at string
		if err := rows.Scan(&at, &f.Bytes); err != nil {
			return nil, fmt.Errorf("store: finished deliveries: %w", err)
		}
		f.At = parseTime(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// FailedSince returns the deliveries that failed after since (and were
// not retried since), newest first, at most limit.
func (s *Store) FailedSince(ctx context.Context, since time.Time, limit int) ([]domain.Delivery, error) {
	return s.queryDeliveries(ctx, `WHERE status = 'failed' AND finished_at >= ? ORDER BY finished_at DESC LIMIT ?`,
		formatTime(since), limit)
}

// DeliveryEvents returns up to limit outbox events about one delivery, in
// the order they were written, whether or not they were published yet.
func (s *Store) DeliveryEvents(ctx context.Context, id string, limit int) ([]Event, error) {
	return s.queryEvents(ctx, `WHERE subject = ? ORDER BY seq LIMIT ?`, id, limit)
}
