// Package feedback records what partners say about delivered packages —
// received, processed, rejected — whether they call the feedback API with
// their own key or drop a receipt file next to the package. It also finds
// deliveries whose partner stayed silent past the ack timeout, and sends a
// rejected package again when the partner's profile asks for it.
package feedback

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// Enqueuer starts a delivery's workflow inside the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, d domain.Delivery) error
}

// Service records feedback.
type Service struct {
	Store  *store.Store
	Engine Enqueuer
	Log    *slog.Logger
	// Policy limits the hosts receipt polling may reach.
	Policy *transport.Policy
	// Telemetry puts each report into its delivery's trace (nil: none).
	Telemetry *telemetry.Telemetry
}

// Report is one piece of feedback as a partner sends it.
type Report struct {
	Status    domain.Ack `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	Reference string     `json:"reference,omitempty"`
	// ID, when the partner gives one, identifies the report for
	// de-duplication; otherwise its content does.
	ID string `json:"id,omitempty"`
}

// Result is what recording a report did.
type Result struct {
	Delivery domain.Delivery `json:"delivery"`
	// Duplicate is true when this report was recorded before; nothing changed.
	Duplicate bool `json:"duplicate"`
	// Redelivery is the new delivery started after a rejection, if any.
	Redelivery string `json:"redelivery,omitempty"`
}

// Errors the API maps to status codes.
var (
	ErrInvalid  = errors.New("invalid feedback")
	ErrNotFound = errors.New("delivery not found")
	ErrConflict = errors.New("feedback conflicts with the delivery's state")
)

// Validate checks a report's fields.
func (r Report) Validate() error {
	switch {
	case !slices.Contains(domain.FeedbackKinds, r.Status):
		return fmt.Errorf("%w: status %q is not one of received, processed, rejected", ErrInvalid, r.Status)
	case r.Status == domain.AckRejected && strings.TrimSpace(r.Reason) == "":
		return fmt.Errorf("%w: a rejection needs a reason", ErrInvalid)
	case len(r.Reason) > 2000:
		return fmt.Errorf("%w: reason longer than 2000 bytes", ErrInvalid)
	case len(r.Reference) > 200 || len(r.ID) > 200:
		return fmt.Errorf("%w: reference and id are at most 200 bytes", ErrInvalid)
	}
	return nil
}

// record is Record without its span (tracing.go).
func (s *Service) record(ctx context.Context, p domain.Partner, deliveryID string, r Report, source string) (Result, error) {
	if err := r.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{}
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		fb := store.Feedback{ID: uuid.Must(uuid.NewV7()).String(), DeliveryID: deliveryID, PartnerID: p.ID, Kind: r.Status,
			Reason: r.Reason, PartnerRef: r.Reference, Source: source, Dedup: dedupKey(p.ID, deliveryID, r), ReceivedAt: s.Store.Now()}
		d, err := s.Store.UpdateDeliveryTx(ctx, tx, deliveryID, func(d *domain.Delivery) error {
			if d.PartnerID != p.ID {
				return ErrNotFound
			}
			if err := s.Store.InsertFeedbackTx(ctx, tx, fb); err != nil {
				return err
			}
			if r.Reference != "" {
				d.PartnerRef = r.Reference
			}
			if err := d.SetAck(r.Status, r.Reason, s.Store.Now()); err != nil {
				return fmt.Errorf("%w: %w", ErrConflict, err)
			}
			return nil
		})
		res.Delivery = d
		switch {
		case errors.Is(err, store.ErrDuplicate):
			res.Duplicate = true
			return nil
		case errors.Is(err, store.ErrNotFound):
			return ErrNotFound
		case err != nil:
			return err
		}
		if r.Status == domain.AckRejected {
			res.Redelivery, err = s.redeliver(ctx, tx, p, d)
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if res.Duplicate { // the transaction changed nothing: show the current state
		res.Delivery, err = s.Store.GetDelivery(ctx, deliveryID)
	}
	if !res.Duplicate {
		s.Log.Info("partner feedback", "delivery_id", deliveryID, "partner", p.ID, "status", r.Status, "source", source,
			"redelivery", res.Redelivery, "trace_id", telemetry.TraceID(res.Delivery.TraceParent))
	}
	return res, err
}

// redeliver starts a new delivery of the same asset version after a
// rejection, within the partner's redeliver_on_reject budget.
func (s *Service) redeliver(ctx context.Context, tx *sql.Tx, p domain.Partner, d domain.Delivery) (string, error) {
	if p.Feedback.RedeliverOnReject == 0 {
		return "", nil
	}
	n, err := s.Store.CountRedeliveries(ctx, tx, d.AssetID, d.AssetVersion, p.ID)
	if err != nil || n >= p.Feedback.RedeliverOnReject {
		return "", err
	}
	now := s.Store.Now()
	pv, err := s.Store.PartnerVersionFor(ctx, tx, p.ID, d.AssetID)
	if err != nil {
		return "", err
	}
	nd := domain.Delivery{ID: uuid.Must(uuid.NewV7()).String(), AssetID: d.AssetID, AssetVersion: d.AssetVersion, PartnerID: p.ID,
		PartnerVersion: pv, Action: d.Action, Scope: d.Scope, Changes: d.Changes, Status: domain.StatusQueued, RedeliveryOf: d.ID, Priority: p.Priority,
		CreatedAt: now, UpdatedAt: now}
	span := s.Telemetry.StartDelivery(ctx, "redeliver", &nd)
	defer span.End()
	if err := s.Store.InsertDelivery(ctx, tx, nd); err != nil {
		return "", err
	}
	return nd.ID, s.Engine.Enqueue(ctx, tx, nd)
}

func dedupKey(partnerID, deliveryID string, r Report) string {
	if r.ID != "" {
		return partnerID + "/id/" + r.ID
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{deliveryID, string(r.Status), r.Reason, r.Reference}, "\x00")))
	return partnerID + "/" + hex.EncodeToString(sum[:])
}
