package intake_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	_ "github.com/syndicate-media/syndicate/internal/format/json"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// enqueueOnly is an engine that can enqueue deliveries but not schedule
// rights-window wake-ups (as a third-party engine might be).
type enqueueOnly struct{ n int }

func (e *enqueueOnly) Enqueue(context.Context, *sql.Tx, domain.Delivery) error { e.n++; return nil }

func setup(t *testing.T) (*store.Store, *intake.Service, *enqueueOnly) {
	t.Helper()
	st := storetest.Open(t, storetest.SQLite(t))
	eng := &enqueueOnly{}
	ctx := context.Background()
	if _, err := st.PutPartner(ctx, domain.Partner{ID: "acme", Name: "Acme", Format: "json", Destination: domain.Destination{URL: "file:///tmp/x"}}); err != nil {
		t.Fatal(err)
	}
	return st, &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: eng}, eng
}

func TestScheduleNeedsAScheduler(t *testing.T) {
	st, in, eng := setup(t)
	ctx := context.Background()
	start := time.Now().Add(time.Hour)
	if _, _, err := st.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "movie", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: "/m.mp4"}},
		Rights: &domain.Rights{Start: &start}}); err != nil {
		t.Fatal(err)
	}
	_, err := in.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err == nil || !strings.Contains(err.Error(), "cannot schedule rights windows") {
		t.Fatalf("err = %v", err)
	}
	if list, _ := st.ListDeliveries(ctx, store.DeliveryFilter{}); len(list) != 0 || eng.n != 0 {
		t.Fatalf("a refused notification wrote %d deliveries, %d enqueued", len(list), eng.n)
	}
	// A dry run needs no scheduler: it schedules nothing.
	resp, err := in.DryRun(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil || !resp.DryRun || resp.Decisions[0].Action != intake.ActionScheduled || resp.Decisions[0].At == nil {
		t.Fatalf("dry run %+v %v", resp, err)
	}
}

func TestRedecideGoneOrSuperseded(t *testing.T) {
	st, in, eng := setup(t)
	ctx := context.Background()
	a := domain.Asset{ID: "ep-1", Type: "movie", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: "/m.mp4"}}}
	st.PutAsset(ctx, a)
	a.Title = "T2"
	st.PutAsset(ctx, a)
	for _, c := range []struct {
		asset, partner string
		version        int
		want           string
	}{
		{"ep-9", "acme", 1, "no longer in the catalog"},
		{"ep-1", "acme", 1, "superseded by version 2"},
		{"ep-1", "ghost", 2, "partner no longer exists"},
		{"ep-1", "acme", 2, "create "},
	} {
		out, err := in.Redecide(ctx, c.asset, c.partner, c.version, time.Now())
		if err != nil || !strings.HasPrefix(out, c.want) && !strings.Contains(out, c.want) {
			t.Errorf("Redecide(%s, %s, v%d) = %q, %v; want %q", c.asset, c.partner, c.version, out, err, c.want)
		}
	}
	if eng.n != 1 {
		t.Fatalf("%d enqueued, want 1 (the create)", eng.n)
	}
}
