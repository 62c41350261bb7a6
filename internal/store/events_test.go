package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

func TestOutbox(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		d := domain.Delivery{ID: "d1", AssetID: "a", AssetVersion: 1, PartnerID: "p", Action: domain.ActionCreate,
			Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, d) }); err != nil {
			t.Fatal(err)
		}
		move := func(fn func(d *domain.Delivery) error) {
			t.Helper()
			if _, err := s.UpdateDelivery(ctx, "d1", fn); err != nil {
				t.Fatal(err)
			}
		}
		move(func(d *domain.Delivery) error { return d.Transition(domain.StatusPackaging, now) })
		move(func(d *domain.Delivery) error { d.Bytes = 5; return nil }) // progress: no event
		move(func(d *domain.Delivery) error { d.Attempts++; return d.Transition(domain.StatusTransferring, now) })
		move(func(d *domain.Delivery) error { d.Attempts++; return d.Transition(domain.StatusTransferring, now) }) // retry
		move(func(d *domain.Delivery) error { return d.Transition(domain.StatusDelivered, now) })
		move(func(d *domain.Delivery) error { return d.SetAck(domain.AckProcessed, "", now) })
		// Refused changes write no event.
		s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error { return d.SetAck(domain.AckReceived, "", now) })

		if evs, _ := s.EventsAfter(ctx, 0, 100); len(evs) != 0 {
			t.Fatalf("unstamped events visible: %d", len(evs))
		}
		if n, err := s.StampEvents(ctx, 4); err != nil || n != 4 {
			t.Fatalf("stamp = %d, %v", n, err)
		}
		if n, _ := s.StampEvents(ctx, 100); n != 2 {
			t.Fatalf("second stamp = %d, want 2", n)
		}
		evs, err := s.EventsAfter(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"queued", "packaging", "transferring", "transferring", "delivered", "processed"}
		if len(evs) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
		}
		for i, e := range evs {
			if e.Type != store.EventType(want[i]) || e.PubSeq != int64(i+1) || e.Subject != "d1" || e.PartnerID != "p" {
				t.Errorf("event %d = %s #%d, want %s #%d", i, e.Type, e.PubSeq, want[i], i+1)
			}
		}
		if page, _ := s.EventsAfter(ctx, 4, 1); len(page) != 1 || page[0].PubSeq != 5 {
			t.Fatalf("page after 4 = %+v", page)
		}
	})
}

func TestReserveStart(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Microsecond)
		s.Now = func() time.Time { return base }
		var slots []time.Time
		for range 3 {
			slot, err := s.ReserveStart(ctx, "acme", 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			slots = append(slots, slot)
		}
		for i, want := range []time.Duration{0, 500 * time.Millisecond, time.Second} {
			if got := slots[i].Sub(base); got != want {
				t.Errorf("slot %d at +%v, want +%v", i, got, want)
			}
		}
		// Later than the booked pace: the start is now, not in the past.
		s.Now = func() time.Time { return base.Add(time.Minute) }
		if slot, _ := s.ReserveStart(ctx, "acme", time.Second); !slot.Equal(base.Add(time.Minute)) {
			t.Errorf("late slot = %v", slot)
		}
		if slot, _ := s.ReserveStart(ctx, "other", time.Second); !slot.Equal(base.Add(time.Minute)) {
			t.Errorf("partners share a pace: %v", slot)
		}
	})
}
