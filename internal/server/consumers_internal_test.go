package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestIntakeSinkRedelivery: a queue message committed and then delivered
// again (a crash before the ack) is answered from its first commit — no
// second delivery — because its message id is its idempotency key; intake
// refusals are poison, an oversized body too.
func TestIntakeSinkRedelivery(t *testing.T) {
	cfg := storetest.SQLite(t)
	srv, err := Start(context.Background(), Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: "sink-test-token-0123456789",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(5 * time.Second)
	ctx := context.Background()
	p := domain.Partner{ID: "archive", Name: "Archive", Format: "json", Destination: domain.Destination{URL: "file://" + t.TempDir()}}
	if _, err := srv.Store.PutPartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(t.TempDir(), "m.mp4")
	os.WriteFile(media, []byte("media"), 0o644)
	if _, _, err := srv.Store.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "clip", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
		t.Fatal(err)
	}
	sink := intakeSink{in: srv.Intake}
	msg := consumer.WithMessageID(ctx, "sqs:0b6f-redelivered")
	body := []byte(`{"asset_id":"ep-1","partners":["archive"]}`)
	for range 2 {
		if err := sink.Submit(msg, body); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Intake.Wait(ctx, "sqs:0b6f-redelivered"); err != nil { // decided asynchronously
		t.Fatal(err)
	}
	ds, err := srv.Store.ListDeliveries(ctx, store.DeliveryFilter{AssetID: "ep-1"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries after a redelivered message: %d (%v), want 1", len(ds), err)
	}
	n, err := srv.Store.GetNotification(ctx, "sqs:0b6f-redelivered")
	var resp intake.Response
	if err != nil || json.Unmarshal(n.Response, &resp) != nil || resp.Decisions[0].DeliveryID != ds[0].ID {
		t.Errorf("notification under the message id: %+v %v", n, err)
	}
	for b, want := range map[string]string{
		`{"asset_id":"ep-1"}`:                     "invalid_request",
		`{"asset_id":"ep-1","partners":"all"} {}`: "unexpected data",
		`{"asset_id":"ep-1","partners":"all","idempotency_key":"` + strings.Repeat("k", 300) + `"}`: "at most 200",
		`{"asset_id":"` + strings.Repeat("x", 1<<20) + `"}`:                                         "over 1048576 bytes",
	} {
		err := sink.Submit(ctx, []byte(b))
		if !errors.Is(err, consumer.ErrPoison) || !strings.Contains(err.Error(), want) {
			t.Errorf("Submit(%.60s…) = %v, want poison containing %q", b, err, want)
		}
	}
}
