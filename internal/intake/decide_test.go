package intake_test

import (
	"context"
	"database/sql"
	"fmt"
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

// recorder enqueues nothing and records the wake-ups asked for.
type recorder struct {
	enqueueOnly
	wakes []string
}

func (r *recorder) Schedule(_ context.Context, _ *sql.Tx, assetID, partnerID string, version int, edge string, at time.Time) error {
	r.wakes = append(r.wakes, fmt.Sprintf("%s %s %s v%d %s", edge, partnerID, assetID, version, at.UTC().Format(time.RFC3339)))
	return nil
}

// TestRightsOnTheStoreClock moves the store's clock (store.Now) instead
// of waiting: before the window, at its start, and past its end.
func TestRightsOnTheStoreClock(t *testing.T) {
	st, in, _ := setup(t)
	rec := &recorder{}
	in.Engine = rec
	ctx := context.Background()
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(30 * 24 * time.Hour)
	if _, _, err := st.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "movie", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: "/m.mp4"}},
		Rights: &domain.Rights{Start: &start, End: &end}}); err != nil {
		t.Fatal(err)
	}
	notify := func(at time.Time) intake.Decision {
		t.Helper()
		st.Now = func() time.Time { return at }
		resp, err := in.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Decisions[0]
	}
	if d := notify(start.Add(-time.Hour)); d.Action != intake.ActionScheduled || !d.At.Equal(start) {
		t.Fatalf("before the window: %+v", d)
	}
	if d := notify(start); d.Action != "create" || d.DeliveryID == "" {
		t.Fatalf("at the start: %+v", d)
	}
	if d := notify(start.Add(time.Hour)); d.Action != "noop" {
		t.Fatalf("inside the window: %+v", d)
	}
	d := notify(end.Add(time.Second))
	if d.Action != "takedown" || d.DeliveryID == "" || len(d.Changes) != 1 || d.Changes[0] != "rights.end" {
		t.Fatalf("past the end: %+v", d)
	}
	if again := notify(end.Add(time.Hour)); again.Action != "noop" || again.DeliveryID != d.DeliveryID {
		t.Fatalf("after the takedown: %+v", again)
	}
	want := []string{"start acme ep-1 v1 2026-07-01T00:00:00Z", "end acme ep-1 v1 2026-07-31T00:00:00Z", "end acme ep-1 v1 2026-07-31T00:00:00Z"}
	if fmt.Sprint(rec.wakes) != fmt.Sprint(want) {
		t.Fatalf("wake-ups %q, want %q", rec.wakes, want)
	}
}
