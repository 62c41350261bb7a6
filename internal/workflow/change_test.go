package workflow_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	_ "github.com/syndicate-media/syndicate/internal/format/csv"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// startDecider starts an engine whose rights-window wake-ups decide
// through an intake service, as the server wires them. stop shuts the
// engine down and closes the store (idempotent), for restart tests.
func startDecider(t *testing.T, cfg store.Config) (env, func()) {
	t.Helper()
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	late := workflow.NewLateRedecider()
	eng, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(cfg.DataDir, "work"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Redecider: late})
	if err != nil {
		t.Fatal(err)
	}
	in := &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: eng}
	late.Bind(in)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = eng.Shutdown(5 * time.Second)
			st.Close()
		}
	}
	t.Cleanup(stop)
	media := filepath.Join(t.TempDir(), "main.mp4")
	if err := os.WriteFile(media, []byte("media bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	return env{store: st, intake: in, media: media}, stop
}

func (e env) put(t *testing.T, a domain.Asset) int {
	t.Helper()
	v, _, err := e.store.PutAsset(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e env) notify(t *testing.T, asset string) intake.Response {
	t.Helper()
	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: asset, Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decisionFor(t *testing.T, resp intake.Response, partner string) intake.Decision {
	t.Helper()
	for _, d := range resp.Decisions {
		if d.PartnerID == partner {
			return d
		}
	}
	t.Fatalf("no decision for %s in %+v", partner, resp.Decisions)
	return intake.Decision{}
}

// files lists the files under dir, relative, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func readManifest(t *testing.T, dir string) domain.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m domain.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMetadataOnlyUpdate: a synopsis change reaches a partner whose
// format prints it as the metadata document and manifest only; a csv
// partner without that column gets nothing.
func TestMetadataOnlyUpdate(t *testing.T) {
	e, _ := startDecider(t, storetest.SQLite(t))
	dest, csvDest := t.TempDir(), t.TempDir()
	e.partner(t, "acme", "file://"+dest, nil)
	e.partner(t, "tube", "file://"+csvDest, func(p *domain.Partner) {
		p.Format, p.FormatOptions.Columns = "csv", []string{"id", "title", "media_file"}
	})
	cover := filepath.Join(t.TempDir(), "cover.png")
	os.WriteFile(cover, []byte("png"), 0o644)
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Metadata: map[string]any{"synopsis": "First."},
		Media: []domain.MediaFile{{Role: "main", URI: "file://" + e.media}}, Images: []domain.Image{{Role: "cover", URI: cover}}}
	e.put(t, a)
	for _, d := range e.notify(t, "ep-1").Decisions {
		if d.Action != "create" || d.Scope != "full" {
			t.Fatalf("first decision %+v", d)
		}
		if got := waitTerminal(t, e.store, d.DeliveryID); got.Status != domain.StatusDelivered {
			t.Fatalf("create: %+v", got)
		}
	}
	pkg := filepath.Join(dest, "ep-1")
	if got := files(t, pkg); !slices.Equal(got, []string{"images/cover.png", "main.mp4", "manifest.json", "metadata.json"}) {
		t.Fatalf("create sent %v", got)
	}
	if err := os.RemoveAll(pkg); err != nil { // so what the update sends is all that is there
		t.Fatal(err)
	}

	a.Metadata = map[string]any{"synopsis": "Second, longer."}
	e.put(t, a)
	resp := e.notify(t, "ep-1")
	upd := decisionFor(t, resp, "acme")
	if upd.Action != "update" || upd.Scope != "metadata" || !slices.Equal(upd.Changes, []string{"metadata.synopsis"}) {
		t.Fatalf("acme decision %+v", upd)
	}
	if noop := decisionFor(t, resp, "tube"); noop.Action != "noop" || !strings.Contains(noop.Reason, "metadata.synopsis") || noop.DeliveryID == "" {
		t.Fatalf("csv partner without the column: %+v", noop)
	}
	d := waitTerminal(t, e.store, upd.DeliveryID)
	if d.Status != domain.StatusDelivered || d.Files != 2 || !d.MetadataOnly() || len(d.Changes) != 1 || d.Changes[0].New != "Second, longer." {
		t.Fatalf("update delivery %+v", d)
	}
	if got := files(t, pkg); !slices.Equal(got, []string{"manifest.json", "metadata.json"}) {
		t.Fatalf("metadata-only update sent %v, want metadata.json and manifest.json only", got)
	}
	m := readManifest(t, pkg)
	if m.Action != domain.ActionUpdate || m.Scope != domain.ScopeMetadata || len(m.Files) != 1 || m.Files[0].Name != "metadata.json" {
		t.Fatalf("manifest %+v", m)
	}
	var doc struct {
		Metadata map[string]any
		Files    []struct{ Name string }
	}
	b, _ := os.ReadFile(filepath.Join(pkg, "metadata.json"))
	if err := json.Unmarshal(b, &doc); err != nil || doc.Metadata["synopsis"] != "Second, longer." || len(doc.Files) != 2 {
		t.Fatalf("metadata.json must carry the new synopsis and still describe both files: %s", b)
	}
	// A new image is a full update.
	a.Images[0].Width = 1920
	e.put(t, a)
	full := decisionFor(t, e.notify(t, "ep-1"), "tube")
	if full.Action != "update" || full.Scope != "full" || !slices.Equal(full.Changes, []string{"images.cover"}) {
		t.Fatalf("image change: %+v", full)
	}
	if d := waitTerminal(t, e.store, full.DeliveryID); d.Status != domain.StatusDelivered || d.Files != 4 {
		t.Fatalf("full update %+v", d)
	}
}

// TestTakedown: an asset whose rights window has ended is taken down
// from the partner that has it: a takedown document and the manifest.
func TestTakedown(t *testing.T) {
	e, _ := startDecider(t, storetest.SQLite(t))
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, nil)
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: e.media}}}
	e.put(t, a)
	first := e.notify(t, "ep-1").Decisions[0]
	if d := waitTerminal(t, e.store, first.DeliveryID); d.Status != domain.StatusDelivered {
		t.Fatalf("create: %+v", d)
	}
	pkg := filepath.Join(dest, "ep-1")
	os.RemoveAll(pkg)
	end := e.store.Now().Add(-time.Minute)
	a.Rights = &domain.Rights{End: &end}
	e.put(t, a)
	dec := e.notify(t, "ep-1").Decisions[0]
	if dec.Action != "takedown" || !slices.Equal(dec.Changes, []string{"rights.end"}) {
		t.Fatalf("decision %+v", dec)
	}
	d := waitTerminal(t, e.store, dec.DeliveryID)
	if d.Status != domain.StatusDelivered || d.Action != domain.ActionTakedown || d.Files != 2 {
		t.Fatalf("takedown delivery %+v", d)
	}
	if got := files(t, pkg); !slices.Equal(got, []string{"manifest.json", "metadata.json"}) {
		t.Fatalf("takedown sent %v", got)
	}
	b, _ := os.ReadFile(filepath.Join(pkg, "metadata.json"))
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc["action"] != "takedown" || len(doc["files"].([]any)) != 0 {
		t.Fatalf("takedown document: %s", b)
	}
	if m := readManifest(t, pkg); m.Action != domain.ActionTakedown {
		t.Fatalf("manifest %+v", m)
	}
	again := e.notify(t, "ep-1").Decisions[0]
	if again.Action != "noop" || again.DeliveryID != d.ID || !strings.Contains(again.Reason, "taken down") {
		t.Fatalf("after takedown: %+v", again)
	}
}

// waitFor polls cond until it holds, failing after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRightsWindowSurvivesRestart: an asset whose window opens two
// seconds from now and closes four seconds from now is scheduled; the
// engine stops before the window opens; a new engine on the same database
// delivers it at the start and takes it down at the end.
func TestRightsWindowSurvivesRestart(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { rightsWindowSurvivesRestart(t, cfg) })
	}
}

func rightsWindowSurvivesRestart(t *testing.T, cfg store.Config) {
	e, stop := startDecider(t, cfg)
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, nil)
	start := time.Now().Add(2 * time.Second).UTC()
	end := start.Add(2 * time.Second)
	e.put(t, domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: e.media}},
		Rights: &domain.Rights{Start: &start, End: &end}})
	dec := e.notify(t, "ep-1").Decisions[0]
	if dec.Action != intake.ActionScheduled || dec.At == nil || !dec.At.Equal(start) || dec.DeliveryID != "" {
		t.Fatalf("decision %+v", dec)
	}
	// Stop while the wake-up sleeps (dequeued, its wake-up time recorded).
	waitFor(t, "the wake-up to start sleeping", func() bool {
		status, _ := wakeStatus(e.store, workflow.WakeID("start", "acme", "ep-1", 1))
		return status == "PENDING"
	})
	stop()

	e2, _ := startDecider(t, cfg)
	var list []domain.Delivery
	waitFor(t, "the create at the window's start and the takedown at its end", func() bool {
		list, _ = e2.store.ListDeliveries(context.Background(), store.DeliveryFilter{})
		done := 0
		for _, d := range list {
			if d.Status == domain.StatusDelivered {
				done++
			}
		}
		return done == 2 || len(list) > 2
	})
	if len(list) != 2 || list[1].Action != domain.ActionCreate || list[0].Action != domain.ActionTakedown {
		t.Fatalf("deliveries (newest first) %+v", list)
	}
	if !list[1].CreatedAt.Add(time.Millisecond).After(start) || !list[0].CreatedAt.Add(time.Millisecond).After(end) {
		t.Fatalf("delivered before the window opened or taken down before it closed: %+v", list)
	}
	if m := readManifest(t, filepath.Join(dest, "ep-1")); m.Action != domain.ActionTakedown {
		t.Fatalf("last package %+v", m)
	}
}

// TestNewerVersionSupersedesWakeUp: a wake-up scheduled for version 1
// does nothing once version 2 (with a later window) is the catalog's.
func TestNewerVersionSupersedesWakeUp(t *testing.T) {
	e, _ := startDecider(t, storetest.SQLite(t))
	e.partner(t, "acme", "file://"+t.TempDir(), nil)
	soon, later := time.Now().Add(time.Second).UTC(), time.Now().Add(time.Hour).UTC()
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: e.media}},
		Rights: &domain.Rights{Start: &soon}}
	e.put(t, a)
	if d := e.notify(t, "ep-1").Decisions[0]; d.Action != intake.ActionScheduled {
		t.Fatalf("v1: %+v", d)
	}
	a.Rights = &domain.Rights{Start: &later}
	if v := e.put(t, a); v != 2 {
		t.Fatalf("version %d", v)
	}
	if d := e.notify(t, "ep-1").Decisions[0]; d.Action != intake.ActionScheduled || !d.At.Equal(later) {
		t.Fatalf("v2: %+v", d)
	}
	var status, output string
	waitFor(t, "the version 1 wake-up to finish", func() bool {
		status, output = wakeStatus(e.store, workflow.WakeID("start", "acme", "ep-1", 1))
		return status == "SUCCESS" || status == "ERROR"
	})
	decoded, _ := base64.StdEncoding.DecodeString(output) // DBOS keeps outputs as base64 of their JSON
	if status != "SUCCESS" || !strings.Contains(string(decoded), "superseded by version 2") {
		t.Fatalf("wake-up %s: %s", status, output)
	}
	if list, _ := e.store.ListDeliveries(context.Background(), store.DeliveryFilter{}); len(list) != 0 {
		t.Fatalf("a superseded wake-up delivered: %+v", list)
	}
}

// wakeStatus reads a workflow's status and output from the engine's tables.
func wakeStatus(st *store.Store, id string) (status, output string) {
	schema, arg := "", "?"
	if st.Dialect == store.Postgres {
		schema, arg = "dbos.", "$1"
	}
	_ = st.DB.QueryRow(`SELECT s.status, COALESCE(o.output, '') FROM `+schema+`workflow_status s
		LEFT JOIN `+schema+`workflow_output o ON o.workflow_uuid = s.workflow_uuid WHERE s.workflow_uuid = `+arg, id).Scan(&status, &output)
	return status, output
}

// TestWakeUpWithoutDecider: an engine started without a decider fails a
// wake-up at once, with the reason, and delivers nothing.
func TestWakeUpWithoutDecider(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	e.partner(t, "acme", "file://"+t.TempDir(), nil)
	soon := time.Now().Add(500 * time.Millisecond).UTC()
	e.put(t, domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: e.media}},
		Rights: &domain.Rights{Start: &soon}})
	if d := e.notify(t, "ep-1").Decisions[0]; d.Action != intake.ActionScheduled {
		t.Fatalf("decision %+v", d)
	}
	var status, errText string
	waitFor(t, "the wake-up to end", func() bool {
		_ = e.store.DB.QueryRow(`SELECT s.status, COALESCE(o.error, '') FROM workflow_status s
			LEFT JOIN workflow_output o ON o.workflow_uuid = s.workflow_uuid WHERE s.workflow_uuid = ?`,
			workflow.WakeID("start", "acme", "ep-1", 1)).Scan(&status, &errText)
		return status == "SUCCESS" || status == "ERROR"
	})
	if status != "ERROR" || !strings.Contains(errText, "no decider") {
		t.Fatalf("wake-up %s: %q", status, errText)
	}
	if list, _ := e.store.ListDeliveries(context.Background(), store.DeliveryFilter{}); len(list) != 0 {
		t.Fatalf("deliveries %+v", list)
	}
}
