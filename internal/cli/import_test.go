package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestImport replays a legacy notification log through a real server:
// a dry run decides and records nothing; the import delivers to the
// partner's shadow folder (shadow mode: the strangler path), reports
// each bad line with its number and goes on; running it again starts no
// new work.
func TestImport(t *testing.T) {
	const tok = "import-test-token-0123456789"
	cfg := storetest.SQLite(t)
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: tok,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(5 * time.Second) })
	real, shadow := t.TempDir(), t.TempDir()
	c := client.New(srv.URL, tok)
	ctx := context.Background()
	profile := `{"id":"legacy","name":"Legacy","format":"json","destination":{"url":"file://` + real + `"},"shadow":{"url":"file://` + shadow + `"}}`
	if _, err := c.PutPartner(ctx, "legacy", []byte(profile), "application/json"); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(t.TempDir(), "m.mp4")
	os.WriteFile(media, []byte("media"), 0o644)
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
		t.Fatal(err)
	}
	log := strings.Join([]string{
		`{"asset_id":"ep-1","partners":"all"}`,
		``,
		`{"asset_id":`,
		`{"asset_id":"ep-9","partners":"all"}`,
		`{"asset_id":"ep-1","partners":"all","sent_at":"2019-01-01"}`,
		`{"asset_id":"ep-1","partners":"all","priority":5}` + strings.Repeat(" ", maxImportLine),
		`{"asset_id":"ep-1","partners":["legacy"]} {}`,
		`{"asset_id":"ep-1","partners":"all"}`, // sent again by the legacy system: decided again
	}, "\n") + "\n"
	file := filepath.Join(t.TempDir(), "legacy.jsonl")
	if err := os.WriteFile(file, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		code := Run(ctx, env, append([]string{"import", "--server", srv.URL, "--token", tok}, args...))
		return code, out.String(), errOut.String()
	}
	wantBad := []string{"line 3: bad line", "line 4: unknown_asset", "line 5: bad line: json: unknown field \"sent_at\"",
		"line 6: bad line: longer than", "line 7: bad line: more than one JSON value"}

	code, out, errOut := run("--dry-run", file)
	if code != 1 || !regexp.MustCompile(`(?m)^1 +ep-1 +legacy +create `).MatchString(out) || !strings.Contains(out, "(dry run, nothing recorded)") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range wantBad {
		if !strings.Contains(errOut, w) {
			t.Errorf("dry run stderr lacks %q:\n%s", w, errOut)
		}
	}
	if list, _ := srv.Store.ListDeliveries(ctx, store.DeliveryFilter{}); len(list) != 0 {
		t.Fatalf("dry run recorded %d deliveries", len(list))
	}

	code, out, errOut = run(file)
	if code != 1 || !strings.Contains(out, "7 notification(s), 5 bad (imported)") || !regexp.MustCompile(`(?m)^8 +ep-1 +legacy +noop `).MatchString(out) {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	list, _ := srv.Store.ListDeliveries(ctx, store.DeliveryFilter{})
	if len(list) != 1 {
		t.Fatalf("%d deliveries, want 1", len(list))
	}
	deadline := time.Now().Add(60 * time.Second)
	for d := list[0]; d.Status != domain.StatusDelivered; d, _ = srv.Store.GetDelivery(ctx, d.ID) {
		if d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("delivery %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(shadow, "ep-1", "manifest.json")); err != nil {
		t.Fatalf("shadow folder has no package: %v", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Fatalf("shadow mode wrote to the real destination: %v", entries)
	}
	// The same log again: the derived keys answer as before.
	if code, out, _ = run(file); code != 1 || !strings.Contains(out, list[0].ID) {
		t.Fatalf("second import: %d\n%s", code, out)
	}
	if again, _ := srv.Store.ListDeliveries(ctx, store.DeliveryFilter{}); len(again) != 1 {
		t.Fatalf("second import made %d deliveries", len(again))
	}
}

func TestImportUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if code := Run(context.Background(), env, []string{"import"}); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
	if code := Run(context.Background(), env, []string{"import", "--server", "http://127.0.0.1:1", filepath.Join(t.TempDir(), "none.jsonl")}); code != 1 ||
		!strings.Contains(errOut.String(), "no such file") {
		t.Errorf("missing file: exit %d %s", code, errOut.String())
	}
	f := filepath.Join(t.TempDir(), "one.jsonl")
	os.WriteFile(f, []byte(`{"asset_id":"ep-1","partners":"all"}`), 0o644)
	errOut.Reset()
	if code := Run(context.Background(), env, []string{"import", "--server", "http://127.0.0.1:1", f}); code != 1 ||
		!strings.Contains(errOut.String(), "line 1:") || !strings.Contains(errOut.String(), "connection refused") {
		t.Errorf("server down: exit %d %s", code, errOut.String())
	}
}
