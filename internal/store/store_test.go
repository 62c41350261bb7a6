package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

func forEachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { fn(t, storetest.Open(t, cfg)) })
	}
}

func asset(title string) domain.Asset {
	return domain.Asset{ID: "ep-1", Type: "episode", Title: title, Media: []domain.MediaFile{{Role: "main", URI: "/m.mp4"}}}
}

func TestAssetVersions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		v, changed, err := s.PutAsset(ctx, asset("Pilot"))
		if err != nil || v != 1 || !changed {
			t.Fatalf("first put = %d %v %v", v, changed, err)
		}
		if v, changed, _ = s.PutAsset(ctx, asset("Pilot")); v != 1 || changed {
			t.Fatalf("same content put = %d %v, want 1 false", v, changed)
		}
		if v, changed, _ = s.PutAsset(ctx, asset("Pilot (recut)")); v != 2 || !changed {
			t.Fatalf("changed put = %d %v, want 2 true", v, changed)
		}
		a, v, err := s.GetAsset(ctx, "ep-1")
		if err != nil || v != 2 || a.Title != "Pilot (recut)" {
			t.Fatalf("GetAsset = %+v %d %v", a, v, err)
		}
		old, err := s.GetAssetVersion(ctx, "ep-1", 1)
		if err != nil || old.Title != "Pilot" {
			t.Fatalf("snapshot v1 = %+v %v", old, err)
		}
		if _, _, err := s.GetAsset(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing asset err = %v", err)
		}
	})
}

func TestPartners(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := domain.Partner{ID: "acme", Name: "Acme", Format: "json", Destination: domain.Destination{URL: "file:///tmp/x"}}
		if v, err := s.PutPartner(ctx, p); err != nil || v != 1 {
			t.Fatalf("put = %d %v", v, err)
		}
		if v, _ := s.PutPartner(ctx, p); v != 1 {
			t.Fatalf("identical put bumped version to %d", v)
		}
		p.Name = "Acme Corp"
		if v, _ := s.PutPartner(ctx, p); v != 2 {
			t.Fatalf("changed put version %d, want 2", v)
		}
		got, err := s.GetPartner(ctx, "acme")
		if err != nil || got.Name != "Acme Corp" || got.Retry.MaxAttempts != 5 {
			t.Fatalf("GetPartner = %+v %v (defaults applied?)", got, err)
		}
		list, err := s.ListPartners(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListPartners = %v %v", list, err)
		}
		if _, err := s.GetPartner(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing partner err = %v", err)
		}
	})
}

func TestDeliveryLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		d := domain.Delivery{ID: "d1", AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme", Action: domain.ActionCreate,
			Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, d) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error {
			d.Attempts++
			return d.Transition(domain.StatusPackaging, s.Now())
		})
		if err != nil || got.Status != domain.StatusPackaging || got.StartedAt == nil {
			t.Fatalf("update = %+v %v", got, err)
		}
		// An illegal move writes nothing.
		_, err = s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error { return d.Transition(domain.StatusDelivered, s.Now()) })
		var te *domain.TransitionError
		if !errors.As(err, &te) {
			t.Fatalf("illegal transition err = %v", err)
		}
		got, _ = s.GetDelivery(ctx, "d1")
		if got.Status != domain.StatusPackaging || got.Attempts != 1 || !got.CreatedAt.Equal(now) {
			t.Fatalf("after refused update: %+v", got)
		}
		list, err := s.ListDeliveries(ctx, store.DeliveryFilter{PartnerID: "acme", Status: domain.StatusPackaging})
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %v %v", list, err)
		}
		if list, _ := s.ListDeliveries(ctx, store.DeliveryFilter{PartnerID: "other"}); len(list) != 0 {
			t.Fatalf("filter ignored: %v", list)
		}
		if _, err := s.GetDelivery(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing delivery err = %v", err)
		}
	})
}

func TestNotificationKeyUnique(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		res := make([][]*store.Notification, 4)
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := store.NewNotification{Key: "k1", ID: fmt.Sprint("id-", i), RequestHash: "h", Request: []byte(`{}`)}
				res[i], errs[i] = s.AcceptNotifications(ctx, []store.NewNotification{n})
			}()
		}
		wg.Wait()
		stored := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("accept %d: %v", i, err)
			}
			if res[i][0] == nil {
				stored++
			} else if res[i][0].Key != "k1" || res[i][0].RequestHash != "h" {
				t.Fatalf("accept %d found %+v", i, res[i][0])
			}
		}
		if stored != 1 {
			t.Fatalf("%d of 4 concurrent accepts of one key stored it", stored)
		}
		got, err := s.GetNotification(ctx, "k1")
		if err != nil || got.RequestHash != "h" || got.Status != store.NotificationAccepted {
			t.Fatalf("get = %+v %v", got, err)
		}
	})
}

func TestMigrateTwice(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			storetest.Open(t, cfg).Close()
			s := storetest.Open(t, cfg) // second open finds everything applied
			if err := s.AddToken(context.Background(), "h", "t"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.TokenExists(context.Background(), "h"); !ok {
				t.Fatal("token not found")
			}
		})
	}
}
