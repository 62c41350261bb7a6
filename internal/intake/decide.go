package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/change"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Scheduler enqueues, inside the caller's transaction, a durable wake-up
// that decides again for an asset version and partner at an edge
// ("start" or "end") of its rights window (workflow.Engine.Schedule).
type Scheduler interface {
	Schedule(ctx context.Context, tx *sql.Tx, assetID, partnerID string, version int, edge string, at time.Time) error
}

// ActionScheduled is the decision for an asset whose rights window opens
// later: nothing is delivered now, a wake-up decides again at its start.
const ActionScheduled = "scheduled"

// verdict is what judge found for one partner; reading it writes nothing.
type verdict struct {
	skip           bool
	skipReason     string
	res            change.Result
	last           *domain.Delivery // the partner's latest live delivery
	partnerVersion int
	version        int
	now            time.Time
	rights         *domain.Rights
}

// hasIt reports whether the partner has, or is receiving, some version.
func (v verdict) hasIt() bool { return v.last != nil && v.last.Action != domain.ActionTakedown }

// judge decides for one partner without writing anything: rules, the
// snapshot it last received (its latest delivery that did not fail; none
// after a takedown), the fields its profile version's format uses, and
// change.Detect.
func (s *Service) judge(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, p domain.Partner, now time.Time) (verdict, error) {
	v := verdict{version: version, now: now, rights: asset.Rights}
	if err := p.Rules.Check(asset); err != nil {
		v.skip, v.skipReason = true, err.Error()
		return v, nil
	}
	pv, err := s.Store.PartnerVersionFor(ctx, tx, p.ID, asset.ID)
	if err != nil {
		return v, err
	}
	v.partnerVersion = pv
	prof, err := s.Store.GetPartnerVersionTx(ctx, tx, p.ID, pv)
	if err != nil {
		return v, fmt.Errorf("intake: partner %s version %d: %w", p.ID, pv, err)
	}
	last, err := s.Store.LatestDelivery(ctx, tx, asset.ID, p.ID)
	var prev *domain.Asset
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return v, err
	default:
		v.last = &last
		if last.Action != domain.ActionTakedown {
			a, err := s.Store.GetAssetVersionTx(ctx, tx, asset.ID, last.AssetVersion)
			if err != nil {
				return v, fmt.Errorf("intake: snapshot %s v%d of delivery %s: %w", asset.ID, last.AssetVersion, last.ID, err)
			}
			prev = &a
		}
	}
	v.res = change.Detect(prev, asset, prof.Partner, usedFields(prof.Partner), now)
	return v, nil
}

// usedFields is what partner p's package uses; an unknown format (the
// package step will say so) uses everything.
func usedFields(p domain.Partner) change.FieldSet {
	fm, err := format.Get(p.Format)
	if err != nil {
		return change.FieldSet{All: true}
	}
	return change.PackageFields(format.UsedFields(fm, p))
}

// decision is the verdict as the notification's answer shows it.
func (v verdict) decision(partnerID string) Decision {
	dec := Decision{PartnerID: partnerID}
	if v.skip {
		dec.Action, dec.Reason = "skip", v.skipReason
		return dec
	}
	dec.Action, dec.Scope, dec.Changes, dec.Reason = string(v.res.Action), string(v.res.Scope), v.res.Fields(), v.res.Reason
	if v.res.Action == change.Noop && v.last != nil {
		dec.DeliveryID = v.last.ID
		switch {
		case v.last.Action == domain.ActionTakedown:
			dec.Reason = fmt.Sprintf("taken down in delivery %s (%s)", v.last.ID, v.last.Status)
		case v.last.AssetVersion == v.version:
			dec.Reason = fmt.Sprintf("version %d is already %s in delivery %s", v.version, v.last.Status, v.last.ID)
		}
	}
	if at := v.res.NotBefore; !at.IsZero() {
		dec.Action, dec.At = ActionScheduled, &at
		dec.Reason = fmt.Sprintf("rights window opens %s: %s then", at.Format(time.RFC3339), v.res.Action)
	}
	return dec
}

// scheduleEdges enqueues the wake-ups the verdict needs: at the window's
// start when it is not open yet; at its end when the partner has or gets
// this asset and the end is ahead.
func (s *Service) scheduleEdges(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, partnerID string, v verdict) error {
	start := v.res.NotBefore
	var end time.Time
	if r := v.rights; start.IsZero() && r != nil && r.End != nil && r.End.After(v.now) &&
		(v.res.Action == domain.ActionCreate || v.res.Action == domain.ActionUpdate || v.res.Action == change.Noop && v.hasIt()) {
		end = *r.End
	}
	if start.IsZero() && end.IsZero() {
		return nil
	}
	sch, ok := s.Engine.(Scheduler)
	if !ok {
		return errors.New("intake: the engine cannot schedule rights windows")
	}
	if !start.IsZero() {
		return sch.Schedule(ctx, tx, asset.ID, partnerID, version, "start", start)
	}
	return sch.Schedule(ctx, tx, asset.ID, partnerID, version, "end", end)
}

// DryRun answers a notification as Notify would, deciding for every
// partner, but records, schedules and delivers nothing: the decisions
// are read in a transaction that is rolled back. The idempotency key is
// neither checked nor stored.
func (s *Service) DryRun(ctx context.Context, req Request) (Response, error) {
	if err := validate(&req); err != nil {
		return Response{}, err
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
	resp := Response{IdempotencyKey: req.IdempotencyKey, AssetID: asset.ID, AssetVersion: version, DryRun: true}
	now := s.Store.Now()
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, p := range partners {
			v, err := s.judge(ctx, tx, asset, version, p, now)
			if err != nil {
				return err
			}
			resp.Decisions = append(resp.Decisions, v.decision(p.ID))
		}
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return Response{}, err
	}
	return resp, nil
}

var errDryRun = errors.New("dry run: roll back")

// Redecide is the decision a rights-window wake-up makes: for the
// catalog's current version of the asset, as of at or later, to one
// partner. A newer version than the one scheduled supersedes the wake-up
// (its own notification decided and scheduled for it); so does an asset
// or partner that is gone.
func (s *Service) Redecide(ctx context.Context, assetID, partnerID string, version int, at time.Time) (string, error) {
	asset, cur, err := s.Catalog.Lookup(ctx, assetID)
	if errors.Is(err, catalog.ErrUnknownAsset) {
		return "asset is no longer in the catalog", nil
	}
	if err != nil {
		return "", err
	}
	if cur != version {
		return fmt.Sprintf("superseded by version %d", cur), nil
	}
	p, err := s.Store.GetPartner(ctx, partnerID)
	if errors.Is(err, store.ErrNotFound) {
		return "partner no longer exists", nil
	}
	if err != nil {
		return "", err
	}
	now := s.Store.Now()
	if now.Before(at) {
		now = at
	}
	var dec Decision
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		dec, err = s.decideAt(ctx, tx, asset, version, p, nil, now)
		return err
	})
	if err != nil {
		return "", err
	}
	out := dec.Action
	if dec.DeliveryID != "" {
		out += " " + dec.DeliveryID
	}
	if dec.Reason != "" {
		out += ": " + dec.Reason
	}
	return out, nil
}
