package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// PartnerKey is a partner's API key as stored: its hash, never the key.
type PartnerKey struct {
	ID        string     `json:"id"`
	PartnerID string     `json:"partner_id"`
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// AddPartnerKey stores a new key.
func (s *Store) AddPartnerKey(ctx context.Context, k PartnerKey) error {
	_, err := s.exec(ctx, `INSERT INTO syn_partner_keys (id, partner_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.PartnerID, k.Hash, formatTime(k.CreatedAt), nullTime(k.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: add partner key: %w", err)
	}
	return nil
}

const keyColumns = `id, partner_id, hash, created_at, expires_at, revoked_at`

// PartnerKeyByHash finds a key by the hash of its value.
func (s *Store) PartnerKeyByHash(ctx context.Context, hash string) (PartnerKey, error) {
	k, err := scanKey(s.readRow(ctx, `SELECT `+keyColumns+` FROM syn_partner_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrNotFound
	}
	return k, err
}

// ListPartnerKeys lists a partner's keys, newest first.
func (s *Store) ListPartnerKeys(ctx context.Context, partnerID string) ([]PartnerKey, error) {
	rows, err := s.readRows(ctx, `SELECT `+keyColumns+` FROM syn_partner_keys WHERE partner_id = ? ORDER BY created_at DESC, id`, partnerID)
	if err != nil {
		return nil, fmt.Errorf("store: list partner keys: %w", err)
	}
	defer rows.Close()
	out := []PartnerKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokePartnerKey revokes one of a partner's keys.
func (s *Store) RevokePartnerKey(ctx context.Context, partnerID, id string) error {
	res, err := s.exec(ctx, `UPDATE syn_partner_keys SET revoked_at = ? WHERE id = ? AND partner_id = ? AND revoked_at IS NULL`,
		formatTime(s.Now()), id, partnerID)
	if err != nil {
		return fmt.Errorf("store: revoke partner key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %q of partner %q: %w", id, partnerID, ErrNotFound)
	}
	return nil
}

func scanKey(row scanner) (PartnerKey, error) {
	var k PartnerKey
	var created string
	var expires, revoked sql.NullString
	if err := row.Scan(&k.ID, &k.PartnerID, &k.Hash, &created, &expires, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = parseTime(created), parseTimePtr(expires), parseTimePtr(revoked)
	return k, nil
}

// Feedback is one report from a partner about a delivery.
type Feedback struct {
	ID         string     `json:"id"`
	DeliveryID string     `json:"delivery_id"`
	PartnerID  string     `json:"partner_id"`
	Kind       domain.Ack `json:"status"`
	Reason     string     `json:"reason,omitempty"`
	PartnerRef string     `json:"reference,omitempty"`
	Source     string     `json:"source"` // api or receipt
	Dedup      string     `json:"-"`
	ReceivedAt time.Time  `json:"received_at"`
}

// ErrDuplicate is returned when the same feedback was recorded before.
var ErrDuplicate = errors.New("duplicate")

// InsertFeedbackTx records f inside tx; the same dedup key twice returns
// ErrDuplicate (checked first, so the transaction stays usable).
func (s *Store) InsertFeedbackTx(ctx context.Context, tx *sql.Tx, f Feedback) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM syn_feedback WHERE dedup = ?`), f.Dedup).Scan(&n); err != nil {
		return fmt.Errorf("store: feedback: %w", err)
	}
	if n > 0 {
		return ErrDuplicate
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_feedback (id, delivery_id, partner_id, kind, reason, partner_ref, source, dedup, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		f.ID, f.DeliveryID, f.PartnerID, string(f.Kind), f.Reason, f.PartnerRef, f.Source, f.Dedup, formatTime(f.ReceivedAt))
	if err != nil {
		return fmt.Errorf("store: feedback: %w", err)
	}
	return nil
}

// ListFeedback returns a delivery's feedback, oldest first.
func (s *Store) ListFeedback(ctx context.Context, deliveryID string) ([]Feedback, error) {
	rows, err := s.readRows(ctx, `SELECT id, delivery_id, partner_id, kind, reason, partner_ref, source, dedup, received_at
		FROM syn_feedback WHERE delivery_id = ? ORDER BY received_at, id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("store: list feedback: %w", err)
	}
	defer rows.Close()
	out := []Feedback{}
	for rows.Next() {
		var f Feedback
		var kind, at string
		if err := rows.Scan(&f.ID, &f.DeliveryID, &f.PartnerID, &kind, &f.Reason, &f.PartnerRef, &f.Source, &f.Dedup, &at); err != nil {
			return nil, err
		}
		f.Kind, f.ReceivedAt = domain.Ack(kind), parseTime(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// UseSignature records a request signature; a signature seen before
// returns ErrDuplicate (a replayed request). Signatures older than
// keepFor are forgotten: the timestamp window refuses them anyway.
func (s *Store) UseSignature(ctx context.Context, signature string, keepFor time.Duration) error {
	now := s.Now()
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM syn_signatures WHERE seen_at < ?`), formatTime(now.Add(-keepFor))); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM syn_signatures WHERE signature = ?`), signature).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrDuplicate
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_signatures (signature, seen_at) VALUES (?, ?)`), signature, formatTime(now))
		return err
	})
}

// CountRedeliveries counts automatic redeliveries already made of one
// asset version to one partner.
func (s *Store) CountRedeliveries(ctx context.Context, tx *sql.Tx, assetID string, version int, partnerID string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM syn_deliveries
		WHERE asset_id = ? AND asset_version = ? AND partner_id = ? AND redelivery_of <> ''`), assetID, version, partnerID).Scan(&n)
	return n, err
}

// AwaitingAck lists a partner's delivered packages that have had no
// feedback since before finishedBefore.
func (s *Store) AwaitingAck(ctx context.Context, partnerID string, finishedBefore time.Time, limit int) ([]domain.Delivery, error) {
	return s.queryDeliveries(ctx, `WHERE partner_id = ? AND status = 'delivered' AND ack = '' AND finished_at < ?
		ORDER BY finished_at LIMIT ?`, partnerID, formatTime(finishedBefore), limit)
}

// OpenForFeedback lists a partner's delivered packages whose feedback is
// not final yet (none, received or unacknowledged), newest first.
func (s *Store) OpenForFeedback(ctx context.Context, partnerID string, limit int) ([]domain.Delivery, error) {
	return s.queryDeliveries(ctx, `WHERE partner_id = ? AND status = 'delivered' AND ack IN ('', 'received', 'unacknowledged')
		ORDER BY finished_at DESC LIMIT ?`, partnerID, limit)
}

func (s *Store) queryDeliveries(ctx context.Context, where string, args ...any) ([]domain.Delivery, error) {
	rows, err := s.readRows(ctx, `SELECT `+deliveryColumns+` FROM syn_deliveries `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	var out []domain.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
