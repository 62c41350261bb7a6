package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/syndicate-media/syndicate/internal/all"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const token = "test-token-0123456789abcdef"

type fixture struct {
	srv   *server.Server
	media string
}

func start(t *testing.T, cfg store.Config) fixture {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL,
		Addr: "127.0.0.1:0", Token: token, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(5 * time.Second) })
	media := filepath.Join(t.TempDir(), "m.mp4")
	os.WriteFile(media, []byte("media bytes"), 0o644)
	return fixture{srv: srv, media: media}
}

func (f fixture) do(t *testing.T, method, path, tok, ctype, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, out
}

func (f fixture) seed(t *testing.T) {
	t.Helper()
	partner := `{"id":"acme","name":"Acme","format":"json","destination":{"url":"file://` + t.TempDir() + `"}}`
	if code, body := f.do(t, "PUT", "/v1/partners/acme", token, "application/json", partner); code != 200 {
		t.Fatalf("put partner: %d %v", code, body)
	}
	asset := `{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"` + f.media + `"}]}`
	if code, body := f.do(t, "PUT", "/v1/assets/ep-1", token, "", asset); code != 200 {
		t.Fatalf("put asset: %d %v", code, body)
	}
}

func (f fixture) countDeliveries(t *testing.T) int {
	list, err := f.srv.Store.ListDeliveries(context.Background(), store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestBadInput(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	f.seed(t)
	big := `{"asset_id":"ep-1","partners":"all","idempotency_key":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, method, path, tok, ctype, body string
		status                               int
		code                                 string
	}{
		{"no token", "POST", "/v1/notifications", "", "", `{"asset_id":"ep-1","partners":"all"}`, 401, "unauthorized"},
		{"wrong token", "POST", "/v1/notifications", "wrong-token-00000000", "", `{"asset_id":"ep-1","partners":"all"}`, 401, "unauthorized"},
		{"no token on reads", "GET", "/v1/deliveries", "", "", "", 401, "unauthorized"},
		{"malformed json", "POST", "/v1/notifications", token, "", `{"asset_id":`, 400, "malformed_json"},
		{"empty body", "POST", "/v1/notifications", token, "", ``, 400, "malformed_json"},
		{"unknown field", "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":"all","urgency":9}`, 400, "malformed_json"},
		{"priority out of range", "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":"all","priority":5000}`, 400, "invalid_request"},
		{"trailing data", "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":"all"} {}`, 400, "malformed_json"},
		{"wrong type", "POST", "/v1/notifications", token, "", `{"asset_id":7,"partners":"all"}`, 400, "malformed_json"},
		{"partners word", "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":"some"}`, 400, "malformed_json"},
		{"too large", "POST", "/v1/notifications", token, "", big, 413, "body_too_large"},
		{"unknown asset", "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-9","partners":"all"}`, 422, "unknown_asset"},
		{"unknown partner", "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":["acme","ghost"]}`, 422, "unknown_partner"},
		{"no partners", "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":[]}`, 400, "invalid_request"},
		{"xml", "POST", "/v1/notifications", token, "application/xml", `<n/>`, 415, "unsupported_media_type"},
		{"yaml notification", "POST", "/v1/notifications", token, "application/yaml", `asset_id: ep-1`, 415, "unsupported_media_type"},
		{"invalid asset", "PUT", "/v1/assets/ep-2", token, "", `{"type":"podcast","title":""}`, 422, "invalid_asset"},
		{"asset id mismatch", "PUT", "/v1/assets/ep-2", token, "", `{"id":"ep-3"}`, 400, "id_mismatch"},
		{"partner literal secret", "PUT", "/v1/partners/p2", token, "", `{"name":"P","format":"json","destination":{"url":"file:///tmp/x","credentials":"hunter2"}}`, 422, "invalid_partner"},
		{"partner unknown scheme", "PUT", "/v1/partners/p2", token, "", `{"name":"P","format":"json","destination":{"url":"gopher://h/x"}}`, 422, "invalid_partner"},
		{"partner unknown format", "PUT", "/v1/partners/p2", token, "", `{"name":"P","format":"adi99","destination":{"url":"file:///tmp/x"}}`, 422, "invalid_partner"},
		{"partner bad yaml", "PUT", "/v1/partners/p2", token, "application/yaml", "name: [unclosed", 400, "malformed_yaml"},
		{"partner unknown yaml field", "PUT", "/v1/partners/p2", token, "application/yaml", "name: P\ncolour: red\n", 422, "invalid_partner"},
		{"missing delivery", "GET", "/v1/deliveries/nope", token, "", "", 404, "not_found"},
		{"missing partner", "GET", "/v1/partners/nope", token, "", "", 404, "not_found"},
		{"bad status filter", "GET", "/v1/deliveries?status=lost", token, "", "", 400, "invalid_request"},
		{"no route", "GET", "/v1/nothing", token, "", "", 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.do(t, c.method, c.path, c.tok, c.ctype, c.body)
			if code != c.status || body["code"] != c.code || body["message"] == "" {
				t.Fatalf("got %d %v, want %d code %s", code, body, c.status, c.code)
			}
		})
	}
	if n := f.countDeliveries(t); n != 0 {
		t.Fatalf("bad requests wrote %d deliveries", n)
	}
	if code, _ := f.do(t, "GET", "/v1/partners/p2", token, "", ""); code != 404 {
		t.Fatal("a refused partner was stored")
	}
	if code, _ := f.do(t, "GET", "/v1/assets/ep-2", token, "", ""); code != 404 {
		t.Fatal("a refused asset was stored")
	}
}

// TestNoSniff: every kind of answer tells browsers not to guess its type.
func TestNoSniff(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	for _, c := range []struct{ path, tok string }{
		{"/healthz", ""}, {"/v1/deliveries", ""}, {"/v1/deliveries", token}, {"/v1/nowhere", token},
		{"/metrics", token}, {"/ui/static/favicon.svg", ""}, {"/login", ""}, {"/", ""},
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+c.path, nil)
		if c.tok != "" {
			req.Header.Set("Authorization", "Bearer "+c.tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, want nosniff", c.path, resp.StatusCode, got)
		}
	}
}

func TestHealthWithoutToken(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := f.do(t, "GET", p, "", "", ""); code != 200 {
			t.Errorf("%s = %d", p, code)
		}
	}
}

func TestNotificationIdempotent(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg)
			f.seed(t)
			body := `{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"n-1"}`
			code, first := f.do(t, "POST", "/v1/notifications?wait=true", token, "", body)
			if code != 200 || first["status"] != "decided" {
				t.Fatalf("first: %d %v", code, first)
			}
			code, again := f.do(t, "POST", "/v1/notifications", token, "", body)
			if code != 200 || again["replayed"] != true {
				t.Fatalf("replay: %d %v", code, again)
			}
			id := func(m map[string]any) any { return m["decisions"].([]any)[0].(map[string]any)["delivery_id"] }
			if id(first) != id(again) {
				t.Fatalf("replay answered a different delivery: %v vs %v", id(first), id(again))
			}
			code, other := f.do(t, "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":"all","idempotency_key":"n-1"}`)
			if code != 409 || other["code"] != "idempotency_key_reused" {
				t.Fatalf("reused key: %d %v", code, other)
			}
			if n := f.countDeliveries(t); n != 1 {
				t.Fatalf("%d deliveries, want 1", n)
			}
			code, d := f.do(t, "GET", "/v1/deliveries/"+id(first).(string), token, "", "")
			if code != 200 || d["partner_id"] != "acme" {
				t.Fatalf("get delivery: %d %v", code, d)
			}
		})
	}
}

func TestPartnerYAML(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	doc := "id: tv2\nname: TV2\nformat: json\ndestination:\n  url: sftp://tv2@127.0.0.1:2222/in\n  credentials: env:TV2_KEY\n  host_key: SHA256:abc\nretry:\n  max_attempts: 7\n  base_interval: 30s\n"
	code, body := f.do(t, "PUT", "/v1/partners/tv2", token, "application/yaml", doc)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	code, body = f.do(t, "GET", "/v1/partners/tv2", token, "", "")
	p := body["partner"].(map[string]any)
	if code != 200 || p["retry"].(map[string]any)["base_interval"] != "30s" || p["destination"].(map[string]any)["credentials"] != "env:TV2_KEY" {
		t.Fatalf("%d %v", code, body)
	}
}

func (f fixture) doHeaders(t *testing.T, method, path, tok, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, out
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
