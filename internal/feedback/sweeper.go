package feedback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// Sweep runs one pass: marks silent deliveries unacknowledged and reads
// receipt files. It is safe to run in several processes at once: an ack
// moves only forward, so a second sweeper's change is refused.
func (s *Service) Sweep(ctx context.Context) error {
	partners, err := s.Store.ListPartners(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range partners {
		if p.Feedback.AckTimeout > 0 {
			errs = append(errs, s.markSilent(ctx, p))
		}
		if p.Feedback.Receipt != nil {
			errs = append(errs, s.pollReceipts(ctx, p))
		}
	}
	return errors.Join(errs...)
}

// RunSweeper sweeps every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("feedback sweep", "error", err)
			}
		}
	}
}

func (s *Service) markSilent(ctx context.Context, p domain.Partner) error {
	timeout := time.Duration(p.Feedback.AckTimeout)
	silent, err := s.Store.AwaitingAck(ctx, p.ID, s.Store.Now().Add(-timeout), 500)
	if err != nil {
		return err
	}
	for _, d := range silent {
		reason := fmt.Sprintf("no feedback within %s of delivery", timeout)
		_, err := s.Store.UpdateDelivery(ctx, d.ID, func(d *domain.Delivery) error {
			return d.SetAck(domain.AckUnacknowledged, reason, s.Store.Now())
		})
		var ae *domain.AckError
		if err != nil && !errors.As(err, &ae) {
			return err
		}
		if err == nil {
			s.Log.Warn("delivery unacknowledged", "delivery_id", d.ID, "partner", p.ID, "ack_timeout", timeout.String(),
				"trace_id", telemetry.TraceID(d.TraceParent))
		}
	}
	return nil
}

// pollReceipts reads the receipt file in each open package folder of p
// through p's own transport and records what it says.
func (s *Service) pollReceipts(ctx context.Context, p domain.Partner) error {
	open, err := s.Store.OpenForFeedback(ctx, p.ID, 200)
	if err != nil || len(open) == 0 {
		return err
	}
	d := p.Target()
	cred, err := secret.Resolve(d.Credentials)
	if err != nil {
		return fmt.Errorf("receipts of %s: %w", p.ID, err)
	}
	tr, err := transport.Open(ctx, d.URL, transport.Options{Secret: cred, HostKey: d.HostKey, KnownHosts: d.KnownHosts,
		InsecureIgnoreHostKey: d.InsecureIgnoreHostKey, Endpoint: d.Endpoint, Region: d.Region, Policy: s.Policy})
	if err != nil {
		return fmt.Errorf("receipts of %s: %w", p.ID, err)
	}
	defer tr.Close()
	op, ok := tr.(transport.Opener)
	if !ok {
		return fmt.Errorf("receipts of %s: transport cannot read files", p.ID)
	}
	for _, dl := range open {
		name := path.Join(p.PackageDir(dl.AssetID, dl.ID), p.Feedback.Receipt.Name)
		data, err := readSmall(ctx, op, name)
		if errors.Is(err, transport.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receipt %s: %w", name, err)
		}
		r, err := ParseReceipt(p.Feedback.Receipt.Format, data)
		if err != nil {
			s.Log.Warn("unreadable receipt", "delivery_id", dl.ID, "partner", p.ID, "file", name, "error", err,
				"trace_id", telemetry.TraceID(dl.TraceParent))
			continue
		}
		if _, err := s.Record(ctx, p, dl.ID, r, "receipt"); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

// readSmall reads at most 1 MiB: a receipt is a status, not a payload.
func readSmall(ctx context.Context, op transport.Opener, name string) ([]byte, error) {
	rc, err := op.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 1<<20))
}
