package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// Rollout returns a partner's active version and rollout state.
func (s *Store) Rollout(ctx context.Context, id string) (domain.Rollout, error) {
	var r domain.Rollout
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		r, err = s.rolloutTx(ctx, tx, id)
		return err
	})
	return r, err
}

func (s *Store) rolloutTx(ctx context.Context, tx *sql.Tx, id string) (domain.Rollout, error) {
	var r domain.Rollout
	var started sql.NullString
	var log string
	err := tx.QueryRowContext(ctx, s.q(`SELECT version, candidate, rollout_percent, rollout_started_at, rollout_log FROM syn_partners WHERE id = ?`), id).
		Scan(&r.Active, &r.Candidate, &r.Percent, &started, &log)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("partner %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	r.StartedAt = parseTimePtr(started)
	return r, json.Unmarshal([]byte(log), &r.Log)
}

// saveRolloutTx writes the rollout state; the active body follows Active.
func (s *Store) saveRolloutTx(ctx context.Context, tx *sql.Tx, id string, r domain.Rollout) error {
	var body string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT body FROM syn_partner_versions WHERE partner_id = ? AND version = ?`), id, r.Active).Scan(&body); err != nil {
		return fmt.Errorf("active version %d: %w", r.Active, err)
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE syn_partners SET version = ?, body = ?, updated_at = ?, candidate = ?, rollout_percent = ?,
		rollout_started_at = ?, rollout_log = ? WHERE id = ?`),
		r.Active, body, formatTime(s.Now()), r.Candidate, r.Percent, nullTime(r.StartedAt), logJSON(r.Log), id)
	return err
}

// PartnerVersionFor returns the profile version that serves assetID, read
// inside tx so it agrees with the delivery being recorded.
func (s *Store) PartnerVersionFor(ctx context.Context, tx *sql.Tx, partnerID, assetID string) (int, error) {
	r, err := s.rolloutTx(ctx, tx, partnerID)
	return r.VersionFor(partnerID, assetID), err
}

// PromotePartner makes the rollout's candidate the active version.
func (s *Store) PromotePartner(ctx context.Context, id string) (domain.Rollout, error) {
	return s.endRollout(ctx, id, "promoted", "")
}

// AbortRollout drops the rollout's candidate; the active version serves
// everything again. An event records the rollback and its reason.
func (s *Store) AbortRollout(ctx context.Context, id, reason string) (domain.Rollout, error) {
	return s.endRollout(ctx, id, "rolled_back", reason)
}

func (s *Store) endRollout(ctx context.Context, id, action, reason string) (domain.Rollout, error) {
	var r domain.Rollout
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if r, err = s.rolloutTx(ctx, tx, id); err != nil {
			return err
		}
		if r.Candidate == 0 {
			return ErrNoRollout
		}
		entry := domain.RolloutLog{At: s.Now(), Action: action, Version: r.Candidate, Detail: reason}
		if action == "promoted" {
			r.Active = r.Candidate
		}
		r.Candidate, r.Percent, r.StartedAt = 0, 0, nil
		r.Log = append(r.Log, entry)
		if err := s.saveRolloutTx(ctx, tx, id, r); err != nil {
			return err
		}
		return s.insertEventData(ctx, tx, "syndicate.partner."+action, id, id, entry)
	})
	if err != nil {
		return r, fmt.Errorf("partner %s: %w", id, err)
	}
	return r, nil
}

// checkRolloutTx rolls a partner's candidate back, inside the
// transaction that just finished (or saw rejected) one of the
// candidate's deliveries, when its latest finished deliveries fail or are
// rejected more often than its policy allows. Being in that transaction,
// the rollback commits with the failure that caused it: no later delivery
// can pick the candidate in between.
func (s *Store) checkRolloutTx(ctx context.Context, tx *sql.Tx, d domain.Delivery) error {
	r, err := s.rolloutTx(ctx, tx, d.PartnerID)
	if errors.Is(err, ErrNotFound) { // the partner was never stored: nothing rolls out
		return nil
	}
	if err != nil || r.Candidate == 0 || r.Candidate != d.PartnerVersion {
		return err
	}
	var body string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT body FROM syn_partner_versions WHERE partner_id = ? AND version = ?`),
		d.PartnerID, r.Candidate).Scan(&body); err != nil {
		return err
	}
	cand, err := decodePartner(body)
	if err != nil {
		return err
	}
	window := cand.Rollout.Window
	if window <= 0 {
		window = 20
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT status, ack FROM syn_deliveries
		WHERE partner_id = ? AND partner_version = ? AND status IN ('delivered', 'failed')
		ORDER BY finished_at DESC LIMIT ?`), d.PartnerID, r.Candidate, window)
	if err != nil {
		return err
	}
	var failed []bool
	n := 0
	for rows.Next() {
		var status, ack string
		if err := rows.Scan(&status, &ack); err != nil {
			rows.Close()
			return err
		}
		f := status == string(domain.StatusFailed) || ack == string(domain.AckRejected)
		failed = append(failed, f)
		if f {
			n++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || !cand.Rollout.ShouldRollBack(failed) {
		return err
	}
	entry := domain.RolloutLog{At: s.Now(), Action: "rolled_back", Version: r.Candidate,
		Detail: fmt.Sprintf("automatic: %d of the last %d deliveries of version %d failed or were rejected", n, len(failed), r.Candidate)}
	r.Candidate, r.Percent, r.StartedAt = 0, 0, nil
	r.Log = append(r.Log, entry)
	if err := s.saveRolloutTx(ctx, tx, d.PartnerID, r); err != nil {
		return err
	}
	return s.insertEventData(ctx, tx, "syndicate.partner.rolled_back", d.PartnerID, d.PartnerID, entry)
}

// ReserveStart books the partner's next transfer start at least interval
// after the previous booking and returns its time (now or later). Bookings
// are serialized by the database, so the pace holds across processes.
func (s *Store) ReserveStart(ctx context.Context, partnerID string, interval time.Duration) (time.Time, error) {
	var slot time.Time
	err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		slot = s.Now()
		var next string
		err := tx.QueryRowContext(ctx, s.q(`SELECT next_at FROM syn_partner_pace WHERE partner_id = ?`), partnerID).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if t := parseTime(next); t.After(slot) {
				slot = t
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_partner_pace (partner_id, next_at) VALUES (?, ?)
			ON CONFLICT (partner_id) DO UPDATE SET next_at = excluded.next_at`), partnerID, formatTime(slot.Add(interval)))
		return err
	})
	return slot, err
}
