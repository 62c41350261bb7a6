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

// VersionMeta says who changed a profile and why.
type VersionMeta struct {
	Author  string `json:"author"`
	Message string `json:"message"`
}

// PartnerVersion is one immutable version of a partner profile.
type PartnerVersion struct {
	Version   int            `json:"version"`
	Author    string         `json:"author"`
	Message   string         `json:"message"`
	CreatedAt time.Time      `json:"created_at"`
	Partner   domain.Partner `json:"partner"`
}

// ApplyResult is what applying a profile did.
type ApplyResult struct {
	// Version is the version the applied content has (new or existing).
	Version int            `json:"version"`
	Changed bool           `json:"changed"`
	Rollout domain.Rollout `json:"rollout"`
}

// ErrNoRollout is returned when promoting or aborting with no rollout.
var ErrNoRollout = errors.New("no rollout in progress")

// PutPartner applies a profile at once (no rollout) and returns its version.
func (s *Store) PutPartner(ctx context.Context, p domain.Partner) (int, error) {
	r, err := s.ApplyPartner(ctx, p, VersionMeta{Author: "api"}, 0)
	return r.Version, err
}

// ApplyPartner stores p as a new immutable version unless it equals the
// newest version. With percent 1-99 the new version becomes the candidate
// of a gradual rollout; otherwise it becomes active at once.
func (s *Store) ApplyPartner(ctx context.Context, p domain.Partner, meta VersionMeta, percent int) (ApplyResult, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("store: partner %s: %w", p.ID, err)
	}
	var res ApplyResult
	err = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var latest int
		var latestBody string
		err := tx.QueryRowContext(ctx, s.q(`SELECT version, body FROM syn_partner_versions WHERE partner_id = ? ORDER BY version DESC LIMIT 1`), p.ID).
			Scan(&latest, &latestBody)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && latestBody == string(body) {
			res.Version = latest
			res.Rollout, err = s.rolloutTx(ctx, tx, p.ID)
			return err
		}
		res.Version, res.Changed = latest+1, true
		now := s.Now()
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO syn_partner_versions (partner_id, version, body, author, message, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), p.ID, res.Version, string(body), meta.Author, meta.Message, formatTime(now)); err != nil {
			return err
		}
		r, err := s.rolloutTx(ctx, tx, p.ID)
		switch {
		case errors.Is(err, ErrNotFound): // a new partner: active at once
			r = domain.Rollout{Active: res.Version, Log: []domain.RolloutLog{{At: now, Action: "applied", Version: res.Version}}}
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO syn_partners (id, version, body, updated_at, rollout_log) VALUES (?, ?, ?, ?, ?)`),
				p.ID, res.Version, string(body), formatTime(now), logJSON(r.Log))
			res.Rollout = r
			return err
		case err != nil:
			return err
		case percent > 0 && percent < 100:
			r.Candidate, r.Percent, r.StartedAt = res.Version, percent, &now
			r.Log = append(r.Log, domain.RolloutLog{At: now, Action: "started", Version: res.Version, Detail: fmt.Sprintf("%d%%", percent)})
		default:
			if r.Candidate != 0 {
				r.Log = append(r.Log, domain.RolloutLog{At: now, Action: "superseded", Version: r.Candidate})
			}
			r.Active, r.Candidate, r.Percent, r.StartedAt = res.Version, 0, 0, nil
			r.Log = append(r.Log, domain.RolloutLog{At: now, Action: "applied", Version: res.Version})
		}
		res.Rollout = r
		return s.saveRolloutTx(ctx, tx, p.ID, r)
	})
	if err != nil {
		return ApplyResult{}, fmt.Errorf("store: apply partner %s: %w", p.ID, err)
	}
	return res, nil
}

// GetPartner returns a partner's active profile with defaults applied.
func (s *Store) GetPartner(ctx context.Context, id string) (domain.Partner, error) {
	var body string
	err := s.readRow(ctx, `SELECT body FROM syn_partners WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Partner{}, fmt.Errorf("partner %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return domain.Partner{}, fmt.Errorf("store: get partner %s: %w", id, err)
	}
	return decodePartner(body)
}

// GetPartnerVersion returns one version of a partner's profile.
func (s *Store) GetPartnerVersion(ctx context.Context, id string, version int) (PartnerVersion, error) {
	return s.partnerVersion(ctx, s.DB, id, version)
}

// GetPartnerVersionTx is GetPartnerVersion inside tx.
func (s *Store) GetPartnerVersionTx(ctx context.Context, tx *sql.Tx, id string, version int) (PartnerVersion, error) {
	return s.partnerVersion(ctx, tx, id, version)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) partnerVersion(ctx context.Context, db querier, id string, version int) (PartnerVersion, error) {
	v, err := scanVersion(db.QueryRowContext(ctx, s.q(`SELECT version, author, message, created_at, body
		FROM syn_partner_versions WHERE partner_id = ? AND version = ?`), id, version))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("partner %q version %d: %w", id, version, ErrNotFound)
	}
	return v, err
}

// ListPartnerVersions returns a partner's versions, newest first.
func (s *Store) ListPartnerVersions(ctx context.Context, id string) ([]PartnerVersion, error) {
	rows, err := s.readRows(ctx, `SELECT version, author, message, created_at, body
		FROM syn_partner_versions WHERE partner_id = ? ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("store: partner versions: %w", err)
	}
	defer rows.Close()
	var out []PartnerVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("partner %q: %w", id, ErrNotFound)
	}
	return out, nil
}

func scanVersion(row scanner) (PartnerVersion, error) {
	var v PartnerVersion
	var at, body string
	if err := row.Scan(&v.Version, &v.Author, &v.Message, &at, &body); err != nil {
		return v, err
	}
	v.CreatedAt = parseTime(at)
	p, err := decodePartner(body)
	v.Partner = p
	return v, err
}

// ListPartners returns every partner's active profile, ordered by id.
func (s *Store) ListPartners(ctx context.Context) ([]domain.Partner, error) {
	rows, err := s.readRows(ctx, `SELECT body FROM syn_partners ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list partners: %w", err)
	}
	defer rows.Close()
	var out []domain.Partner
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("store: list partners: %w", err)
		}
		p, err := decodePartner(body)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func decodePartner(body string) (domain.Partner, error) {
	var p domain.Partner
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return p, fmt.Errorf("store: decode partner: %w", err)
	}
	p.Defaults()
	return p, nil
}

func logJSON(l []domain.RolloutLog) string {
	if l == nil {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}
