package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"

	_ "github.com/syndicate-media/syndicate/internal/all"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSecretsNeverLeak runs deliveries with password credentials (one right,
// one wrong) and signed partner feedback, then searches everything
// Syndicate wrote or answered — logs, the database files (engine tables
// included), events and API responses — for the secret values.
func TestSecretsNeverLeak(t *testing.T) {
	canaries := map[string]string{
		"SYN_LEAK_SFTP_PASSWORD": "leak-canary-sftp-7f3a9c",
		"SYN_LEAK_WRONG":         "leak-canary-wrong-2d81",
		"SYN_LEAK_HMAC":          "leak-canary-hmac-51be",
	}
	for k, v := range canaries {
		t.Setenv(k, v)
	}
	cfg := storetest.SQLite(t)
	logs := &syncBuffer{}
	srv, sftp, media := startWithSFTP(t, cfg, "leak-test-token-0123456789", logs, "leak", canaries["SYN_LEAK_SFTP_PASSWORD"], 64<<10)

	c := client.New(srv.URL, "leak-test-token-0123456789")
	ctx := context.Background()
	for id, ref := range map[string]string{"good": "env:SYN_LEAK_SFTP_PASSWORD", "wrong": "env:SYN_LEAK_WRONG"} {
		p := domain.Partner{ID: id, Name: id, Format: "json", Destination: domain.Destination{URL: "sftp://leak@" + sftp.Addr() + "/in",
			Credentials: ref, HostKey: sftp.HostKeyFingerprint()}, Retry: domain.Retry{MaxAttempts: 2, BaseInterval: domain.Duration(10 * time.Millisecond)},
			Feedback: domain.Feedback{RequireSignature: true, SigningSecret: "env:SYN_LEAK_HMAC"}}
		body, _ := json.Marshal(p)
		if _, err := c.PutPartner(ctx, id, body, "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, d := range resp.Decisions {
		ids[d.PartnerID] = d.DeliveryID
	}
	waitGoodAndWrong(t, c, ids)
	signedFeedback(t, c, ids["good"], []byte(canaries["SYN_LEAK_HMAC"]))

	// Everything an operator, a partner or an attacker with the database could see.
	seen := map[string]string{"logs": logs.String()}
	for _, path := range []string{"/v1/partners", "/v1/partners/good", "/v1/partners/good/versions", "/v1/deliveries",
		"/v1/deliveries/" + ids["wrong"], "/v1/deliveries/" + ids["good"] + "/feedback", "/v1/events?limit=1000"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer leak-test-token-0123456789")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		seen["GET "+path] = string(body)
	}
	srv.Store.StampEvents(ctx, 10000)
	evs, _ := srv.Store.EventsAfter(ctx, 0, 10000)
	evb, _ := json.Marshal(evs)
	seen["events"] = string(evb)
	for _, f := range []string{"syndicate.db", "syndicate.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(cfg.DataDir, f))
		seen[f] = string(raw)
	}
	// The search must be able to find things: the references are stored.
	if !strings.Contains(seen["syndicate.db"]+seen["syndicate.db-wal"], "env:SYN_LEAK_SFTP_PASSWORD") {
		t.Fatal("the database files do not even hold the profile: the search below would prove nothing")
	}
	if !strings.Contains(seen["GET /v1/deliveries/"+ids["wrong"]], "login refused") {
		t.Fatalf("the failed delivery should say why: %s", seen["GET /v1/deliveries/"+ids["wrong"]])
	}
	for where, text := range seen {
		for name, v := range canaries {
			if strings.Contains(text, v) {
				t.Errorf("the value of %s appears in %s", name, where)
			}
		}
	}
}
