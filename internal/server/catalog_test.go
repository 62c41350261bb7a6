package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestHTTPCatalog runs notifications against a server whose catalog is an
// HTTP CMS: the asset and its revision come from the CMS, the delivery
// sends what the CMS said, a new revision is an update, and the API
// answers an unknown asset with 422, a broken answer with 502 naming the
// field, and PUT /v1/assets with 409.
func TestHTTPCatalog(t *testing.T) {
	media := filepath.Join(t.TempDir(), "ep-1.mp4")
	if err := os.WriteFile(media, []byte("media bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	docs := map[string]string{}
	setDoc := func(id, title string, revision int) {
		mu.Lock()
		defer mu.Unlock()
		docs[id] = fmt.Sprintf(`{"asset": {"title": %q, "revision": %d, "files": [{"kind": "main", "path": %q}]}}`, title, revision, media)
	}
	cms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		doc, ok := docs[strings.TrimPrefix(r.URL.Path, "/assets/")]
		mu.Unlock()
		if !ok || r.Header.Get("Authorization") != "Token cms-secret-value-77" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, doc)
	}))
	defer cms.Close()
	setDoc("ep-1", "Pilot", 5)
	mu.Lock()
	docs["ep-broken"] = `{"asset": {"revision": 1, "files": []}}`
	mu.Unlock()
	t.Setenv("SYN_CMS_TOKEN", "cms-secret-value-77")

	cfg := storetest.SQLite(t)
	const token = "catalog-test-token-0123456789"
	var logs syncBuffer
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: token,
		AllowPrivateDestinations: true, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Catalog: catalog.Config{Kind: "http", URL: cms.URL + "/assets/{id}",
			Auth: &catalog.Auth{Prefix: "Token ", Secret: "env:SYN_CMS_TOKEN"},
			Mapping: map[string]string{"type": "=episode", "title": "asset.title", "version": "asset.revision",
				"media": "asset.files[*]", "media.role": "kind", "media.uri": "path"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(5 * time.Second)
	c := client.New(srv.URL, token)
	ctx := context.Background()
	out := t.TempDir()
	p := domain.Partner{ID: "archive", Name: "Archive", Format: "json", Destination: domain.Destination{URL: "file://" + out}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		t.Fatal(err)
	}

	notify := func(wantAction string, wantVersion int) {
		t.Helper()
		resp, err := c.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.AssetVersion != wantVersion || resp.Decisions[0].Action != wantAction {
			t.Fatalf("notify = v%d %+v, want v%d %s", resp.AssetVersion, resp.Decisions, wantVersion, wantAction)
		}
		waitDelivered(t, c, resp.Decisions[0].DeliveryID)
	}
	notify("create", 5)
	checkTitle(t, filepath.Join(out, "ep-1", "metadata.json"), "Pilot")
	setDoc("ep-1", "Pilot (recut)", 6)
	notify("update", 6)
	checkTitle(t, filepath.Join(out, "ep-1", "metadata.json"), "Pilot (recut)")

	var apiErr *client.Error
	_, err = c.Notify(ctx, intake.Request{AssetID: "ep-404", Partners: intake.Partners{All: true}})
	if !errors.As(err, &apiErr) || apiErr.Status != 422 || apiErr.Code != intake.CodeUnknownAsset {
		t.Fatalf("unknown asset: %v", err)
	}
	_, err = c.Notify(ctx, intake.Request{AssetID: "ep-broken", Partners: intake.Partners{All: true}})
	want := `catalog http: asset "ep-broken": field "title" (asset.title): missing`
	// Decided asynchronously: the decider retries the catalog (bounded),
	// then fails the notification with the catalog's words.
	if !errors.As(err, &apiErr) || apiErr.Code != intake.CodeCatalog || !strings.Contains(apiErr.Message, want) {
		t.Fatalf("broken asset: %v, want %s %s", err, intake.CodeCatalog, want)
	}
	_, err = c.PutAsset(ctx, domain.Asset{ID: "ep-9", Type: "clip", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: media}}})
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || !strings.Contains(apiErr.Message, "assets come from the http catalog") {
		t.Fatalf("PUT /v1/assets: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"intake: notification failed"`) || !strings.Contains(logs.String(), `field \"title\"`) {
		t.Fatalf("the failed lookup is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "cms-secret-value-77") {
		t.Fatal("the CMS token is in the logs")
	}
}

func TestBadCatalogConfigRefusedAtStart(t *testing.T) {
	cfg := storetest.SQLite(t)
	_, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Catalog: catalog.Config{Kind: "http", URL: "gopher://cms.example/{id}"}})
	if err == nil || !strings.Contains(err.Error(), `catalog.url: scheme "gopher": want http or https`) ||
		!strings.Contains(err.Error(), "catalog.mapping.title: required") {
		t.Fatalf("err = %v", err)
	}
}

func waitDelivered(t *testing.T, c *client.Client, id string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := c.Delivery(context.Background(), id)
		if err == nil && d.Status == domain.StatusDelivered {
			return
		}
		if err == nil && d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("delivery %s: %+v %v", id, d, err)
		}
	}
}

func checkTitle(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Title string }
	if err := json.Unmarshal(b, &doc); err != nil || doc.Title != want {
		t.Fatalf("%s: title %q %v, want %q\n%s", path, doc.Title, err, want, b)
	}
}
