package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

func TestShadowRulesPriorityDeadline(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	ctx := context.Background()
	real, shadow := t.TempDir(), t.TempDir()
	e.partner(t, "shadowed", "file://"+real, func(p *domain.Partner) {
		p.Shadow = &domain.Destination{URL: "file://" + shadow}
		p.Priority = 7
	})
	e.partner(t, "picky", "file://"+t.TempDir(), func(p *domain.Partner) {
		p.Rules = domain.Rules{RequiredFields: []string{"metadata.synopsis", "images.poster"}}
	})
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, []byte("x"), 0o644)
	e.partner(t, "patient", "file://"+blocker+"/in", func(p *domain.Partner) {
		p.Retry = domain.Retry{MaxAttempts: 1, BaseInterval: domain.Duration(20 * time.Millisecond), Deadline: domain.Duration(400 * time.Millisecond)}
	})
	e.asset(t, "ep-1", "Pilot")
	resp, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]intake.Decision{}
	for _, d := range resp.Decisions {
		got[d.PartnerID] = d
	}
	if d := got["picky"]; d.Action != "skip" || d.DeliveryID != "" || !strings.Contains(d.Reason, "metadata.synopsis, images.poster") {
		t.Fatalf("picky: %+v", d)
	}
	// Shadow mode: the package lands at the shadow destination only.
	waitTerminal(t, e.store, got["shadowed"].DeliveryID)
	if _, err := os.Stat(filepath.Join(shadow, "ep-1", "manifest.json")); err != nil {
		t.Fatalf("shadow destination: %v", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Fatalf("shadow mode wrote to the real destination: %v", entries)
	}
	// The queue priority reached the engine.
	var prio int
	if err := e.store.DB.QueryRow(`SELECT priority FROM workflow_status WHERE workflow_uuid = ?`,
		workflow.WorkflowID(got["shadowed"].DeliveryID, 0)).Scan(&prio); err != nil || prio != 7 {
		t.Fatalf("priority in the queue = %d, %v; want 7", prio, err)
	}
	// A deadline keeps retrying past max_attempts, then gives up.
	d := waitTerminal(t, e.store, got["patient"].DeliveryID)
	if d.Status != domain.StatusFailed || d.Attempts < 3 {
		t.Fatalf("patient: %+v (want failed after several attempts within the deadline)", d)
	}
}

// TestPartnerConcurrency: a partner limited to one transfer at a time
// never has two transferring, and all its deliveries still finish.
func TestPartnerConcurrency(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	ctx := context.Background()
	e.partner(t, "single", "file://"+t.TempDir(), func(p *domain.Partner) {
		p.Concurrency = 1
		p.Destination.MaxBytesPerSecond = 4 << 20 // the 3 MiB media takes ~¾ s
		p.Destination.Path = "{delivery_id}"
	})
	var ids []string
	for _, a := range []string{"a", "b", "c"} {
		e.asset(t, a, "T")
		resp, err := e.intake.Notify(ctx, intake.Request{AssetID: a, Partners: intake.Partners{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Decisions[0].DeliveryID)
	}
	maxSeen := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		running, done := 0, 0
		for _, id := range ids {
			d, _ := e.store.GetDelivery(ctx, id)
			switch {
			case d.Status == domain.StatusPackaging || d.Status == domain.StatusTransferring:
				running++
			case d.Status.Terminal():
				done++
			}
		}
		maxSeen = max(maxSeen, running)
		if done == len(ids) {
			break
		}
	}
	if maxSeen != 1 {
		t.Fatalf("at most %d deliveries of a concurrency-1 partner ran at once, want exactly 1", maxSeen)
	}
	for _, id := range ids {
		if d, _ := e.store.GetDelivery(ctx, id); d.Status != domain.StatusDelivered {
			t.Fatalf("%s: %+v", id, d)
		}
	}
}

// TestStartsPerMinute: at 60 starts a minute, three transfers to one
// partner start at least two seconds apart from first to last.
func TestStartsPerMinute(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	ctx := context.Background()
	e.partner(t, "paced", "file://"+t.TempDir(), func(p *domain.Partner) {
		p.StartsPerMinute = 60
		p.Concurrency = 8
		p.Destination.Path = "{delivery_id}"
	})
	var ids []string
	for _, a := range []string{"a", "b", "c"} {
		e.asset(t, a, "T")
		resp, err := e.intake.Notify(ctx, intake.Request{AssetID: a, Partners: intake.Partners{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Decisions[0].DeliveryID)
	}
	for _, id := range ids {
		if d := waitTerminal(t, e.store, id); d.Status != domain.StatusDelivered {
			t.Fatalf("%+v", d)
		}
	}
	e.store.StampEvents(ctx, 1000)
	evs, _ := e.store.EventsAfter(ctx, 0, 1000)
	var starts []time.Time
	for _, ev := range evs {
		if ev.Type == "syndicate.delivery.transferring" {
			starts = append(starts, ev.Time)
		}
	}
	if len(starts) != 3 {
		t.Fatalf("%d transfer starts", len(starts))
	}
	// Each start waits for its booked slot, one second apart; slowness can
	// only widen the gaps.
	if span := starts[2].Sub(starts[0]); span < 1500*time.Millisecond {
		t.Fatalf("three starts within %v at 60/min", span)
	}
}
