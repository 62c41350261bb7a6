package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestPrivateDestinationsRefusedByDefault: a server started without
// AllowPrivateDestinations will not connect a partner to a loopback host.
func TestPrivateDestinationsRefusedByDefault(t *testing.T) {
	cfg := storetest.SQLite(t)
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: "policy-test-token-0123456789",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(5 * time.Second)
	c := client.New(srv.URL, "policy-test-token-0123456789")
	ctx := context.Background()
	t.Setenv("SYN_POLICY_PW", "x")
	p := domain.Partner{ID: "inside", Name: "Inside", Format: "json", Destination: domain.Destination{
		URL: "sftp://u@127.0.0.1:2222/in", Credentials: "env:SYN_POLICY_PW", InsecureIgnoreHostKey: true}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(t.TempDir(), "m.mp4")
	os.WriteFile(media, []byte("m"), 0o644)
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "a", Type: "clip", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Notify(ctx, intake.Request{AssetID: "a", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, _ := c.Delivery(ctx, resp.Decisions[0].DeliveryID)
		if d.Status.Terminal() {
			if d.Status != domain.StatusFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "private or loopback") {
				t.Fatalf("delivery to a loopback host: %+v", d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished: %+v", d)
		}
	}
}

// TestBadAllowlistRefusedAtStart: a malformed --allow-destinations entry
// stops the server instead of matching nothing.
func TestBadAllowlistRefusedAtStart(t *testing.T) {
	cfg := storetest.SQLite(t)
	_, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0",
		AllowedDestinations: []string{"sftp.partner.example", "s3:/media-drop"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), `allowed destination "s3:/media-drop"`) {
		t.Fatalf("Start: %v", err)
	}
}
