package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

func TestUIQueries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
		s.Now = func() time.Time { return now }
		insert := func(id, partner string) {
			d := domain.Delivery{ID: id, AssetID: "ep-1", AssetVersion: 1, PartnerID: partner, Action: domain.ActionCreate,
				Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
			if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, d) }); err != nil {
				t.Fatal(err)
			}
		}
		finish := func(id string, to domain.Status, at time.Time, bytes int64, reason string) {
			now = at
			_, err := s.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
				for _, st := range []domain.Status{domain.StatusPackaging, domain.StatusTransferring, to} {
					if err := d.Transition(st, at); err != nil {
						return err
					}
				}
				d.Bytes, d.LastError = bytes, reason
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		start := now
		for _, id := range []string{"d-old", "d-1", "d-2", "d-fail", "d-q"} {
			insert(id, map[bool]string{true: "bad", false: "good"}[id == "d-fail"])
		}
		finish("d-old", domain.StatusDelivered, start.Add(-2*time.Hour), 5, "")
		finish("d-1", domain.StatusDelivered, start.Add(10*time.Minute), 100, "")
		finish("d-2", domain.StatusDelivered, start.Add(20*time.Minute), 200, "")
		finish("d-fail", domain.StatusFailed, start.Add(30*time.Minute), 0, "refused")

		counts, err := s.CountByStatus(ctx)
		if err != nil || counts[domain.StatusDelivered] != 3 || counts[domain.StatusFailed] != 1 || counts[domain.StatusQueued] != 1 {
			t.Fatalf("counts %v %v", counts, err)
		}
		fin, err := s.FinishedSince(ctx, domain.StatusDelivered, start)
		if err != nil || len(fin) != 2 || fin[0].Bytes != 100 || fin[1].Bytes != 200 || !fin[0].At.Equal(start.Add(10*time.Minute)) {
			t.Fatalf("finished %+v %v", fin, err)
		}
		failed, err := s.FailedSince(ctx, start, 10)
		if err != nil || len(failed) != 1 || failed[0].ID != "d-fail" || failed[0].LastError != "refused" {
			t.Fatalf("failed %+v %v", failed, err)
		}
		evs, err := s.DeliveryEvents(ctx, "d-fail", 100)
		if err != nil || len(evs) != 2 || evs[0].Type != store.EventType("queued") || evs[1].Type != store.EventType("failed") || evs[1].PubSeq != 0 {
			t.Fatalf("events %+v %v", evs, err)
		}
	})
}
