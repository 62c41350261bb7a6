// Package intake accepts notifications ("asset X should go to partners Y"),
// decides per partner what to do (create; update, full or metadata-only;
// takedown when the rights window ended; nothing when no field the
// partner's package uses changed; later, at the rights window's start),
// and records each delivery together with
// its workflow start in one transaction. Replaying a notification with the
// same idempotency key returns the first answer and starts no new work.
package intake

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/change"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// Enqueuer starts a delivery's workflow inside the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, d domain.Delivery) error
}

// Service handles notifications.
type Service struct {
	Store   *store.Store
	Catalog catalog.Catalog
	Engine  Enqueuer
	// Telemetry starts each delivery's trace (nil: none).
	Telemetry *telemetry.Telemetry
}

// Request is a notification.
type Request struct {
	AssetID string `json:"asset_id"`
	// Partners is a list of partner ids, or the string "all".
	Partners       Partners `json:"partners"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	// Priority, when set, overrides the partners' queue priority: 0 is the
	// most urgent, 1000 the least.
	Priority *int `json:"priority,omitempty"`
}

// Partners is either a list of partner ids or All.
type Partners struct {
	All bool
	IDs []string
}

// UnmarshalJSON accepts ["a","b"] or "all".
func (p *Partners) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "all" {
			return fmt.Errorf(`partners: want a list of partner ids or "all", got %q`, s)
		}
		p.All = true
		return nil
	}
	if err := json.Unmarshal(b, &p.IDs); err != nil {
		return errors.New(`partners: want a list of partner ids or "all"`)
	}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (p Partners) MarshalJSON() ([]byte, error) {
	if p.All {
		return json.Marshal("all")
	}
	return json.Marshal(p.IDs)
}

// Response is the answer to a notification.
type Response struct {
	IdempotencyKey string     `json:"idempotency_key"`
	AssetID        string     `json:"asset_id"`
	AssetVersion   int        `json:"asset_version"`
	Decisions      []Decision `json:"decisions"`
	// Replayed is true when this is the stored answer to an earlier
	// notification with the same key.
	Replayed bool `json:"replayed"`
	// DryRun is true when nothing was recorded (DryRun).
	DryRun bool `json:"dry_run,omitempty"`
}

// Decision is what happens for one partner.
type Decision struct {
	PartnerID string `json:"partner_id"`
	// Action is create, update, takedown, noop, skip (the partner's rules
	// refuse the asset) or scheduled (its rights window opens at At).
	Action     string `json:"action"`
	DeliveryID string `json:"delivery_id"`
	// Scope is full or metadata for an update (full for a create).
	Scope string `json:"scope,omitempty"`
	// Changes names the changed fields the partner's package uses.
	Changes []string   `json:"changes,omitempty"`
	At      *time.Time `json:"at,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// Error is a refused notification; Code is stable and machine-readable.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// The error codes.
const (
	CodeInvalid        = "invalid_request"
	CodeUnknownAsset   = "unknown_asset"
	CodeUnknownPartner = "unknown_partner"
	CodeKeyReused      = "idempotency_key_reused"
)

func refuse(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Notify handles one notification.
func (s *Service) Notify(ctx context.Context, req Request) (Response, error) {
	if err := validate(&req); err != nil {
		return Response{}, err
	}
	fingerprint := req.fingerprint()
	if resp, ok, err := s.replay(ctx, req.IdempotencyKey, fingerprint); ok || err != nil {
		return resp, err
	}
	asset, version, err := s.Catalog.Lookup(ctx, req.AssetID)
	if errors.Is(err, catalog.ErrUnknownAsset) {
		return Response{}, refuse(CodeUnknownAsset, "asset %q is not in the catalog", req.AssetID)
	}
	if err != nil {
		return Response{}, err
	}
	partners, err := s.partners(ctx, req.Partners)
	if err != nil {
		return Response{}, err
	}
	resp := Response{IdempotencyKey: req.IdempotencyKey, AssetID: asset.ID, AssetVersion: version}
	err = s.Store.InTx(ctx, func(tx *sql.Tx) error {
		resp.Decisions = resp.Decisions[:0]
		for _, p := range partners {
			dec, err := s.decide(ctx, tx, asset, version, p, req.Priority)
			if err != nil {
				return err
			}
			resp.Decisions = append(resp.Decisions, dec)
		}
		body, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		return s.Store.InsertNotification(ctx, tx, store.Notification{Key: req.IdempotencyKey, RequestHash: fingerprint, Response: body})
	})
	if err != nil {
		// A concurrent request with the same key won the insert: answer as it did.
		if resp, ok, rerr := s.replay(ctx, req.IdempotencyKey, fingerprint); ok || rerr != nil {
			return resp, rerr
		}
		return Response{}, err
	}
	return resp, nil
}

// decide picks the action for one partner and, if there is work, records
// the delivery and enqueues its workflow in tx.
func (s *Service) decide(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, p domain.Partner, priority *int) (Decision, error) {
	return s.decideAt(ctx, tx, asset, version, p, priority, s.Store.Now())
}

// decideAt is decide as of now: field-level change detection against
// what the partner last received (internal/change), the rights window
// (scheduling a wake-up at its start or end), then the delivery, if any.
func (s *Service) decideAt(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, p domain.Partner, priority *int, now time.Time) (Decision, error) {
	assetID, partnerID := asset.ID, p.ID
	v, err := s.judge(ctx, tx, asset, version, p, now)
	dec := v.decision(partnerID)
	if err != nil || v.skip {
		return dec, err
	}
	if err := s.scheduleEdges(ctx, tx, asset, version, partnerID, v); err != nil {
		return dec, err
	}
	if dec.Action == string(change.Noop) || dec.Action == ActionScheduled {
		return dec, nil
	}
	d := domain.Delivery{ID: uuid.Must(uuid.NewV7()).String(), AssetID: assetID, AssetVersion: version, PartnerID: partnerID,
		PartnerVersion: v.partnerVersion, Action: v.res.Action, Scope: v.res.Scope, Changes: v.res.Changes, Status: domain.StatusQueued,
		Priority: p.Priority, CreatedAt: now, UpdatedAt: now}
	if priority != nil {
		d.Priority = *priority
	}
	span := s.Telemetry.StartDelivery(ctx, "decide", &d)
	defer span.End()
	if err := s.Store.InsertDelivery(ctx, tx, d); err != nil {
		return dec, err
	}
	if err := s.Engine.Enqueue(ctx, tx, d); err != nil {
		return dec, err
	}
	dec.DeliveryID = d.ID
	return dec, nil
}

// replay returns the stored answer for key, if any. The same key with a
// different request is refused: it is almost always a client bug.
func (s *Service) replay(ctx context.Context, key, fingerprint string) (Response, bool, error) {
	n, err := s.Store.GetNotification(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Response{}, false, nil
	}
	if err != nil {
		return Response{}, false, err
	}
	if n.RequestHash != fingerprint {
		return Response{}, false, refuse(CodeKeyReused, "idempotency key %q was already used for a different notification", key)
	}
	var resp Response
	if err := json.Unmarshal(n.Response, &resp); err != nil {
		return Response{}, false, fmt.Errorf("intake: stored response: %w", err)
	}
	resp.Replayed = true
	return resp, true, nil
}

func (s *Service) partners(ctx context.Context, want Partners) ([]domain.Partner, error) {
	if want.All {
		all, err := s.Store.ListPartners(ctx)
		if err == nil && len(all) == 0 {
			return nil, refuse(CodeUnknownPartner, `partners "all": no partner is configured`)
		}
		return all, err
	}
	var out []domain.Partner
	var unknown []string
	for _, id := range want.IDs {
		p, err := s.Store.GetPartner(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(unknown) > 0 {
		return nil, refuse(CodeUnknownPartner, "unknown partner(s): %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

func validate(req *Request) error {
	if !domain.ValidID(req.AssetID) {
		return refuse(CodeInvalid, "asset_id: %q is not a valid id", req.AssetID)
	}
	if !req.Partners.All && len(req.Partners.IDs) == 0 {
		return refuse(CodeInvalid, `partners: required, a list of partner ids or "all"`)
	}
	if len(req.Partners.IDs) > 1000 {
		return refuse(CodeInvalid, "partners: at most 1000")
	}
	slices.Sort(req.Partners.IDs)
	req.Partners.IDs = slices.Compact(req.Partners.IDs)
	if req.Priority != nil && (*req.Priority < 0 || *req.Priority > 1000) {
		return refuse(CodeInvalid, "priority: want 0 (most urgent) to 1000")
	}
	if len(req.IdempotencyKey) > 200 {
		return refuse(CodeInvalid, "idempotency_key: at most 200 characters")
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = uuid.NewString()
	}
	return nil
}

// fingerprint identifies what was asked, independent of partner order.
func (r Request) fingerprint() string {
	b, _ := json.Marshal(struct {
		A string   `json:"a"`
		P Partners `json:"p"`
		Q *int     `json:"q,omitempty"`
	}{r.AssetID, r.Partners, r.Priority})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
