package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Notification statuses: a notification is accepted (durable, not decided
// yet), then decided (its deliveries recorded) or failed (with a reason).
const (
	NotificationAccepted = "accepted"
	NotificationDecided  = "decided"
	NotificationFailed   = "failed"
)

// Notification is a notification as stored under its idempotency key: the
// request (and its fingerprint), where it stands, and once decided the
// answer (decisions). The table is the decider's durable queue.
type Notification struct {
	Key         string
	ID          string
	RequestHash string
	// Request is the notification as the decider reads it (JSON); empty
	// for notifications decided before the decider existed.
	Request []byte
	// Response is the decided answer (JSON), empty until then.
	Response    []byte
	Status      string
	TraceParent string
	// Attempts counts decisions that failed on a passing error (the
	// catalog timed out); ErrorCode and Error say the last one, or why
	// the notification failed.
	Attempts      int
	ErrorCode     string
	Error         string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	DecidedAt     *time.Time
}

const notificationColumns = `idempotency_key, COALESCE(id, idempotency_key), request_hash, request, response, status, trace_parent,
	attempts, error_code, error, created_at, next_attempt_at, decided_at`

func scanNotification(row interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var req, resp, created, next, decided string
	err := row.Scan(&n.Key, &n.ID, &n.RequestHash, &req, &resp, &n.Status, &n.TraceParent, &n.Attempts, &n.ErrorCode, &n.Error,
		&created, &next, &decided)
	n.Request, n.Response = []byte(req), []byte(resp)
	n.CreatedAt, n.NextAttemptAt = parseTime(created), parseTime(next)
	if decided != "" {
		t := parseTime(decided)
		n.DecidedAt = &t
	}
	return n, err
}

// GetNotification returns the notification stored under key, or ErrNotFound.
func (s *Store) GetNotification(ctx context.Context, key string) (Notification, error) {
	return s.getNotification(ctx, `idempotency_key`, key)
}

// GetNotificationByID returns the notification with this id, or ErrNotFound.
func (s *Store) GetNotificationByID(ctx context.Context, id string) (Notification, error) {
	return s.getNotification(ctx, `id`, id)
}

func (s *Store) getNotification(ctx context.Context, col, v string) (Notification, error) {
	n, err := scanNotification(s.readRow(ctx, `SELECT `+notificationColumns+` FROM syn_notifications WHERE `+col+` = ?`, v))
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("notification %q: %w", v, ErrNotFound)
	}
	if err != nil {
		return n, fmt.Errorf("store: get notification: %w", err)
	}
	return n, nil
}

// NewNotification is a notification to accept.
type NewNotification struct {
	Key, ID, RequestHash string
	Request              []byte
	TraceParent          string
}

// insertChunk is how many rows one INSERT statement carries: 7 values
// each, well under SQLite's 32766 and PostgreSQL's 65535 parameters.
const insertChunk = 256

// AcceptNotifications stores ns as accepted in one transaction (the group
// commit) and returns, for each, nil if it was stored now or the row that
// already holds its key (stored earlier, or by a concurrent transaction).
// Keys in ns must be distinct. Nothing is stored if it returns an error.
func (s *Store) AcceptNotifications(ctx context.Context, ns []NewNotification) ([]*Notification, error) {
	out := make([]*Notification, len(ns))
	if len(ns) == 0 {
		return out, nil
	}
	now := formatTime(s.Now())
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		clear(out)
		stored := int64(0)
		args := make([]any, 0, 7*min(len(ns), insertChunk))
		for start := 0; start < len(ns); {
			// Chunks of a power of two rows: few statement shapes, each
			// prepared once.
			size := insertChunk
			for size > len(ns)-start {
				size /= 2
			}
			chunk := ns[start : start+size]
			start += size
			args = args[:0]
			for _, n := range chunk {
				args = append(args, n.Key, n.ID, n.RequestHash, string(n.Request), n.TraceParent, now, now)
			}
			res, err := s.txExec(ctx, tx, s.acceptSQL(len(chunk)), args...)
			if err != nil {
				return fmt.Errorf("store: accept notifications: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: accept notifications: %w", err)
			}
			stored += k
		}
		if stored == int64(len(ns)) {
			return nil
		}
		// Some keys were taken: find which, and by what.
		for start := 0; start < len(ns); start += insertChunk {
			chunk := ns[start:min(start+insertChunk, len(ns))]
			byKey := make(map[string]int, len(chunk))
			keys := make([]any, len(chunk))
			for i, n := range chunk {
				byKey[n.Key], keys[i] = start+i, n.Key
			}
			rows, err := tx.QueryContext(ctx, s.q(`SELECT `+notificationColumns+` FROM syn_notifications WHERE idempotency_key IN (?`+
				strings.Repeat(",?", len(chunk)-1)+`)`), keys...)
			if err != nil {
				return fmt.Errorf("store: accept notifications: %w", err)
			}
			for rows.Next() {
				n, err := scanNotification(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("store: accept notifications: %w", err)
				}
				if i, ok := byKey[n.Key]; ok && n.ID != ns[i].ID {
					out[i] = &n
				}
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("store: accept notifications: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// acceptSQL is the multi-row INSERT for n notifications; a key already
// stored is skipped, not an error.
func (s *Store) acceptSQL(n int) string {
	const row = `(?, ?, ?, ?, '', 'accepted', ?, ?, ?)`
	var b strings.Builder
	b.WriteString(`INSERT INTO syn_notifications (idempotency_key, id, request_hash, request, response, status, trace_parent, created_at, next_attempt_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(` ON CONFLICT (idempotency_key) DO NOTHING`)
	return b.String()
}

// CountPendingNotifications returns how many notifications are accepted
// and not decided yet: the backlog.
func (s *Store) CountPendingNotifications(ctx context.Context) (int, error) {
	var n int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM syn_notifications WHERE status = 'accepted'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count pending notifications: %w", err)
	}
	return n, nil
}

// ClaimNotifications leases up to limit accepted notifications that are
// due to owner until leaseUntil, oldest first, and returns them. With key
// set it claims only that notification. On PostgreSQL, processes claiming
// at once skip each other's rows (FOR UPDATE SKIP LOCKED); a lease that
// runs out (its process died) makes the row claimable again.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, leaseUntil time.Time, limit int, key string) ([]Notification, error) {
	now := formatTime(s.Now())
	where, args := `status = 'accepted' AND next_attempt_at <= ? AND lease_until < ?`, []any{owner, formatTime(leaseUntil), now, now}
	if key != "" {
		where += ` AND idempotency_key = ?`
		args = append(args, key)
	}
	lock := ""
	if s.Dialect == Postgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	args = append(args, limit)
	rows, err := s.writeRows(ctx, `UPDATE syn_notifications SET lease_owner = ?, lease_until = ?
		WHERE idempotency_key IN (SELECT idempotency_key FROM syn_notifications WHERE `+where+` ORDER BY next_attempt_at LIMIT ?`+lock+`)
		RETURNING `+notificationColumns, args...)
	if err != nil {
		return nil, fmt.Errorf("store: claim notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("store: claim notifications: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim notifications: %w", err)
	}
	// RETURNING has no order: oldest first, as accepted.
	slices.SortFunc(out, func(a, b Notification) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ReleaseNotifications ends owner's leases (at start, for the leases an
// earlier run of the same process left; at stop, for its own).
func (s *Store) ReleaseNotifications(ctx context.Context, owner string) error {
	_, err := s.exec(ctx, `UPDATE syn_notifications SET lease_until = '' WHERE lease_owner = ? AND status = 'accepted' AND lease_until <> ''`, owner)
	if err != nil {
		return fmt.Errorf("store: release notifications: %w", err)
	}
	return nil
}

// ReleaseAllNotifications ends every lease (SQLite, at start: one process
// owns the database, so a lease left is from a run that ended).
func (s *Store) ReleaseAllNotifications(ctx context.Context) error {
	_, err := s.exec(ctx, `UPDATE syn_notifications SET lease_until = '' WHERE status = 'accepted' AND lease_until <> ''`)
	if err != nil {
		return fmt.Errorf("store: release notifications: %w", err)
	}
	return nil
}

// LockNotifications returns which of keys are still accepted, locking
// their rows in tx (PostgreSQL; a SQLite write transaction holds the whole
// database) so that no one else decides them before tx ends.
func (s *Store) LockNotifications(ctx context.Context, tx *sql.Tx, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(keys); start += insertChunk {
		chunk := keys[start:min(start+insertChunk, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		lock := ""
		if s.Dialect == Postgres {
			lock = ` FOR UPDATE`
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT idempotency_key FROM syn_notifications WHERE status = 'accepted' AND idempotency_key IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`+lock), args...)
		if err != nil {
			return nil, fmt.Errorf("store: lock notifications: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: lock notifications: %w", err)
			}
			out[k] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: lock notifications: %w", err)
		}
	}
	return out, nil
}

// FinishNotification records in tx that the notification under key was
// decided (response holds the decisions) or failed (code and message say
// why).
func (s *Store) FinishNotification(ctx context.Context, tx *sql.Tx, key, status string, response []byte, code, message string) error {
	_, err := s.txExec(ctx, tx, `UPDATE syn_notifications SET status = ?, response = ?, error_code = ?, error = ?, decided_at = ?, lease_until = ''
		WHERE idempotency_key = ? AND status = 'accepted'`, status, string(response), code, message, formatTime(s.Now()), key)
	if err != nil {
		return fmt.Errorf("store: finish notification: %w", err)
	}
	return nil
}

// RetryNotification records a passing failure to decide the notification
// under key: its attempts, when to try again, and the error.
func (s *Store) RetryNotification(ctx context.Context, tx *sql.Tx, key string, attempts int, next time.Time, code, message string) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE syn_notifications SET attempts = ?, next_attempt_at = ?, error_code = ?, error = ?, lease_until = ''
		WHERE idempotency_key = ? AND status = 'accepted'`), attempts, formatTime(next), code, message, key)
	if err != nil {
		return fmt.Errorf("store: retry notification: %w", err)
	}
	return nil
}

// NotificationKeys returns the idempotency keys that start with prefix
// (the benchmark's check that every acknowledged notification is stored).
func (s *Store) NotificationKeys(ctx context.Context, prefix string) (map[string]bool, error) {
	rows, err := s.readRows(ctx, `SELECT idempotency_key FROM syn_notifications WHERE substr(idempotency_key, 1, ?) = ?`,
		len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("store: notification keys: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: notification keys: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}
