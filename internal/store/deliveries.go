package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
)

const deliveryColumns = `id, asset_id, asset_version, partner_id, action, status, attempts, files, bytes,
	location, last_error, created_at, updated_at, started_at, finished_at, ack, ack_reason, ack_at, partner_ref, redelivery_of, partner_version, total_bytes, rate, priority, run, trace_parent, change_set, file_state`

// InsertDelivery records a new delivery, and its first event, inside tx:
// the same transaction that enqueues its workflow.
func (s *Store) InsertDelivery(ctx context.Context, tx *sql.Tx, d domain.Delivery) error {
	cs, err := encodeChangeSet(d)
	if err != nil {
		return fmt.Errorf("store: insert delivery %s: change set: %w", d.ID, err)
	}
	fs, err := encodeFileState(d)
	if err != nil {
		return fmt.Errorf("store: insert delivery %s: file state: %w", d.ID, err)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_deliveries (`+deliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.AssetID, d.AssetVersion, d.PartnerID, string(d.Action), string(d.Status), d.Attempts, d.Files, d.Bytes,
		d.Location, d.LastError, formatTime(d.CreatedAt), formatTime(d.UpdatedAt), nullTime(d.StartedAt), nullTime(d.FinishedAt),
		string(d.Ack), d.AckReason, nullTime(d.AckAt), d.PartnerRef, d.RedeliveryOf, d.PartnerVersion, d.TotalBytes, d.Rate, d.Priority, d.Run, d.TraceParent, cs, fs)
	if err != nil {
		return fmt.Errorf("store: insert delivery %s: %w", d.ID, err)
	}
	return s.insertEvent(ctx, tx, EventType(string(d.Status)), d)
}

// GetDelivery returns one delivery.
func (s *Store) GetDelivery(ctx context.Context, id string) (domain.Delivery, error) {
	row := s.readRow(ctx, `SELECT `+deliveryColumns+` FROM syn_deliveries WHERE id = ?`, id)
	d, err := scanDelivery(row)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("delivery %q: %w", id, ErrNotFound)
	}
	return d, err
}

// DeliveryFilter narrows ListDeliveries; zero fields match everything.
type DeliveryFilter struct {
	PartnerID string
	AssetID   string
	Status    domain.Status
	Limit     int // default 100, at most 1000
}

// ListDeliveries returns the newest deliveries first.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]domain.Delivery, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"partner_id": f.PartnerID, "asset_id": f.AssetID, "status": string(f.Status)} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	query := `SELECT ` + deliveryColumns + ` FROM syn_deliveries`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, f.Limit)
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	out := []domain.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LatestDelivery returns the newest delivery of an asset to a partner
// that did not fail, get cancelled or get rejected, read inside tx;
// ErrNotFound if none.
//
// On PostgreSQL it first takes a transaction-scoped advisory lock on the
// asset × partner pair, held until tx ends: two deciders (of one process
// or several) judging the same pair at once would otherwise each read
// "no delivery" under READ COMMITTED and each insert a create delivery
// (measured: 17 duplicates in 4,000, docs/benchmarks.md). The second now
// waits, then reads the first one's delivery. SQLite has one writer, so
// its transactions never overlap.
func (s *Store) LatestDelivery(ctx context.Context, tx *sql.Tx, assetID, partnerID string) (domain.Delivery, error) {
	if s.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, assetID, partnerID); err != nil {
			return domain.Delivery{}, fmt.Errorf("store: lock %s × %s: %w", assetID, partnerID, err)
		}
	}
	row := s.txQueryRow(ctx, tx, `SELECT `+deliveryColumns+` FROM syn_deliveries
		WHERE asset_id = ? AND partner_id = ? AND status NOT IN ('failed', 'cancelled') AND ack <> 'rejected'
		ORDER BY created_at DESC, id DESC LIMIT 1`, assetID, partnerID)
	d, err := scanDelivery(row)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// UpdateDelivery reads a delivery, lets fn change it, and writes it back in
// one transaction. fn should move the status with Delivery.Transition so the
// state machine is enforced; if fn errs nothing is written.
func (s *Store) UpdateDelivery(ctx context.Context, id string, fn func(d *domain.Delivery) error) (domain.Delivery, error) {
	var d domain.Delivery
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = s.UpdateDeliveryTx(ctx, tx, id, fn)
		return err
	})
	return d, err
}

// UpdateDeliveryTx is UpdateDelivery inside the caller's transaction.
func (s *Store) UpdateDeliveryTx(ctx context.Context, tx *sql.Tx, id string, fn func(d *domain.Delivery) error) (domain.Delivery, error) {
	d, err := scanDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM syn_deliveries WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("delivery %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return d, err
	}
	before := d
	if err := fn(&d); err != nil {
		return d, err
	}
	d.UpdatedAt = s.Now()
	fs, err := encodeFileState(d)
	if err != nil {
		return d, fmt.Errorf("store: update delivery %s: file state: %w", id, err)
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE syn_deliveries SET status = ?, attempts = ?, files = ?, bytes = ?, location = ?,
		last_error = ?, updated_at = ?, started_at = ?, finished_at = ?, ack = ?, ack_reason = ?, ack_at = ?, partner_ref = ?,
		total_bytes = ?, rate = ?, priority = ?, run = ?, file_state = ? WHERE id = ?`),
		string(d.Status), d.Attempts, d.Files, d.Bytes, d.Location, d.LastError, formatTime(d.UpdatedAt),
		nullTime(d.StartedAt), nullTime(d.FinishedAt), string(d.Ack), d.AckReason, nullTime(d.AckAt), d.PartnerRef,
		d.TotalBytes, d.Rate, d.Priority, d.Run, fs, id)
	if err != nil {
		return d, err
	}
	// Every change of state writes its event in the same transaction (the
	// outbox): no state change without its event, and no event for a
	// change that rolled back.
	if d.Status != before.Status || d.Attempts != before.Attempts {
		if err := s.insertEvent(ctx, tx, EventType(string(d.Status)), d); err != nil {
			return d, err
		}
	}
	if d.Ack != before.Ack {
		if err := s.insertEvent(ctx, tx, EventType(string(d.Ack)), d); err != nil {
			return d, err
		}
	}
	finished := d.Status != before.Status && (d.Status == domain.StatusDelivered || d.Status == domain.StatusFailed)
	if finished || (d.Ack != before.Ack && d.Ack == domain.AckRejected) {
		return d, s.checkRolloutTx(ctx, tx, d)
	}
	return d, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanDelivery(row scanner) (domain.Delivery, error) {
	var d domain.Delivery
	var action, status, created, updated string
	var started, finished, ackAt sql.NullString
	var ack, changeSet, fileState string
	err := row.Scan(&d.ID, &d.AssetID, &d.AssetVersion, &d.PartnerID, &action, &status, &d.Attempts, &d.Files, &d.Bytes,
		&d.Location, &d.LastError, &created, &updated, &started, &finished, &ack, &d.AckReason, &ackAt, &d.PartnerRef, &d.RedeliveryOf, &d.PartnerVersion, &d.TotalBytes, &d.Rate, &d.Priority, &d.Run, &d.TraceParent, &changeSet, &fileState)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, err
		}
		return d, fmt.Errorf("store: scan delivery: %w", err)
	}
	d.Action, d.Status = domain.Action(action), domain.Status(status)
	d.CreatedAt, d.UpdatedAt = parseTime(created), parseTime(updated)
	d.StartedAt, d.FinishedAt = parseTimePtr(started), parseTimePtr(finished)
	d.Ack, d.AckAt = domain.Ack(ack), parseTimePtr(ackAt)
	if changeSet != "" {
		var cs changeSetJSON
		if err := json.Unmarshal([]byte(changeSet), &cs); err != nil {
			return d, fmt.Errorf("store: delivery %s: change set: %w", d.ID, err)
		}
		d.Scope, d.Changes = cs.Scope, cs.Changes
	}
	if fileState != "" {
		var fs fileStateJSON
		if err := json.Unmarshal([]byte(fileState), &fs); err != nil {
			return d, fmt.Errorf("store: delivery %s: file state: %w", d.ID, err)
		}
		d.VerifiedFiles, d.ResumeRefused = fs.Files, fs.ResumeRefused
	}
	return d, nil
}

// fileStateJSON is the file_state column: how each delivered file was
// verified, and the files not to resume.
type fileStateJSON struct {
	Files         []domain.VerifiedFile `json:"files,omitempty"`
	ResumeRefused []string              `json:"resume_refused,omitempty"`
}

func encodeFileState(d domain.Delivery) (string, error) {
	if len(d.VerifiedFiles) == 0 && len(d.ResumeRefused) == 0 {
		return "", nil
	}
	b, err := json.Marshal(fileStateJSON{Files: d.VerifiedFiles, ResumeRefused: d.ResumeRefused})
	return string(b), err
}

// changeSetJSON is the change_set column: written once, with the row.
type changeSetJSON struct {
	Scope   domain.Scope    `json:"scope,omitempty"`
	Changes []domain.Change `json:"changes,omitempty"`
}

func encodeChangeSet(d domain.Delivery) (string, error) {
	if d.Scope == "" && len(d.Changes) == 0 {
		return "", nil
	}
	b, err := json.Marshal(changeSetJSON{Scope: d.Scope, Changes: d.Changes})
	return string(b), err
}
