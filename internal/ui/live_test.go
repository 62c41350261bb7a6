package ui

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestLiveStream follows a delivery that is not finished, then checks a
// server shutdown ends the stream instead of waiting for the delivery.
func TestLiveStream(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite(t))
	if err := st.AddToken(ctx, secret.HashToken("live-token-0123456789"), "test"); err != nil {
		t.Fatal(err)
	}
	now := st.Now()
	d := domain.Delivery{ID: "d-1", AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme", Action: domain.ActionCreate,
		Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
	if err := st.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return st.InsertDelivery(ctx, tx, d) }); err != nil {
		t.Fatal(err)
	}
	u := New(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	u.tick = 20 * time.Millisecond
	srv := httptest.NewUnstartedServer(u.Handler(http.NotFoundHandler()))
	srv.Config.RegisterOnShutdown(u.Close)
	srv.Start()
	defer srv.Close()

	s := u.sessions.create(secret.HashToken("live-token-0123456789"))
	req, _ := http.NewRequest("GET", srv.URL+"/deliveries/d-1/events", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.id})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, ct)
	}
	events := bufio.NewScanner(resp.Body)
	next := func() (progress, bool) {
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var p progress
				if err := json.Unmarshal([]byte(data), &p); err != nil {
					t.Fatal(err)
				}
				return p, true
			}
		}
		return progress{}, false
	}
	if p, ok := next(); !ok || p.Status != domain.StatusQueued || p.Terminal {
		t.Fatalf("first event: %+v", p)
	}
	_, err = st.UpdateDelivery(ctx, "d-1", func(d *domain.Delivery) error {
		d.TotalBytes, d.Bytes, d.Rate = 1000, 250, 250
		_ = d.Transition(domain.StatusPackaging, now)
		return d.Transition(domain.StatusTransferring, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, ok := next()
		if !ok {
			t.Fatal("the stream ended before showing the transfer")
		}
		if p.Status == domain.StatusTransferring {
			if p.Percent != 25 || p.BytesText != "250 B" || p.RateText != "250 B/s" || p.ETAText != "3s" {
				t.Fatalf("transfer event: %+v", p)
			}
			break
		}
	}
	// The delivery never finishes; shutting down must not wait for it.
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown waited for the live stream: %v", err)
	}
	for {
		if _, ok := next(); !ok {
			break
		}
	}
}
