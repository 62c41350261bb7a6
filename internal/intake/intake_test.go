package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/syndicate-media/syndicate/internal/all"
	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const token = "intake-test-token-0123456789"

// flaky is the built-in catalog behind a switch: while down, every lookup
// fails with a passing error, as a catalog that times out or answers 503.
type flaky struct {
	inner catalog.Catalog
	down  atomic.Bool
	calls atomic.Int32
}

func (f *flaky) Lookup(ctx context.Context, id string) (domain.Asset, int, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return domain.Asset{}, 0, errors.New("catalog: 503 Service Unavailable")
	}
	return f.inner.Lookup(ctx, id)
}

type fixture struct {
	t   *testing.T
	srv *server.Server
	cfg store.Config
}

// start runs a real server on cfg; tune adjusts its configuration.
func start(t *testing.T, cfg store.Config, tune func(*server.Config)) *fixture {
	t.Helper()
	sc := server.Config{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Addr: "127.0.0.1:0", Token: token,
		ExecutorID: "intake-test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if tune != nil {
		tune(&sc)
	}
	srv, err := server.Start(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: srv, cfg: cfg}
	t.Cleanup(func() { f.close() })
	return f
}

func (f *fixture) close() {
	if f.srv != nil {
		f.srv.Close(5 * time.Second)
		f.srv = nil
	}
}

func (f *fixture) seed(assets ...string) {
	f.t.Helper()
	media := filepath.Join(f.t.TempDir(), "m.mp4")
	os.WriteFile(media, []byte("media bytes"), 0o644)
	partner := `{"id":"acme","name":"Acme","format":"json","destination":{"url":"file://` + f.t.TempDir() + `"}}`
	if code, _, body := f.do("PUT", "/v1/partners/acme", partner); code != 200 {
		f.t.Fatalf("put partner: %d %v", code, body)
	}
	for _, id := range assets {
		asset := `{"id":"` + id + `","type":"episode","title":"Pilot","media":[{"role":"main","uri":"` + media + `"}]}`
		if code, _, body := f.do("PUT", "/v1/assets/"+id, asset); code != 200 {
			f.t.Fatalf("put asset: %d %v", code, body)
		}
	}
}

func (f *fixture) do(method, path, body string) (int, http.Header, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		f.t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, resp.Header, out
}

// until polls the notification id until ok holds (generous deadline: the
// machines are small and shared; not a speed assertion).
func (f *fixture) until(id string, ok func(map[string]any) bool) map[string]any {
	f.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, _, n := f.do("GET", "/v1/notifications/"+id, "")
		if code == 200 && ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("notification %s: %d %v", id, code, n)
		}
	}
}

func decided(n map[string]any) bool { return n["status"] == "decided" }

func (f *fixture) deliveries() []domain.Delivery {
	f.t.Helper()
	list, err := f.srv.Store.ListDeliveries(context.Background(), store.DeliveryFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// TestAcceptThenDecide: 202 with the notification's id once committed,
// then the decider decides it; GET shows the decisions.
func TestAcceptThenDecide(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg, nil)
			f.seed("ep-1")
			code, _, acc := f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"a-1"}`)
			if code != 202 || acc["status"] != "accepted" || acc["idempotency_key"] != "a-1" || acc["notification_id"] == "" || len(acc) != 3 {
				t.Fatalf("accept: %d %v", code, acc)
			}
			n := f.until(acc["notification_id"].(string), decided)
			decs := n["decisions"].([]any)
			if len(decs) != 1 || decs[0].(map[string]any)["action"] != "create" || decs[0].(map[string]any)["partner_id"] != "acme" {
				t.Fatalf("decided: %v", n)
			}
			// Unknown references are found by the decider: the notification fails with the reason.
			code, _, acc = f.do("POST", "/v1/notifications", `{"asset_id":"ep-9","partners":["acme"]}`)
			if code != 202 {
				t.Fatalf("accept: %d %v", code, acc)
			}
			n = f.until(acc["notification_id"].(string), func(n map[string]any) bool { return n["status"] == "failed" })
			if e := n["error"].(map[string]any); e["code"] != intake.CodeUnknownAsset || !strings.Contains(e["message"].(string), "ep-9") {
				t.Fatalf("failed: %v", n)
			}
			code, _, acc = f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":["acme","ghost"]}`)
			n = f.until(acc["notification_id"].(string), func(n map[string]any) bool { return n["status"] == "failed" })
			if n["error"].(map[string]any)["code"] != intake.CodeUnknownPartner {
				t.Fatalf("failed: %v", n)
			}
			if code, _, body := f.do("GET", "/v1/notifications/nope", ""); code != 404 || body["code"] != "not_found" {
				t.Fatalf("missing notification: %d %v", code, body)
			}
			if len(f.deliveries()) != 1 {
				t.Fatalf("deliveries: %v", f.deliveries())
			}
		})
	}
}

// TestRestartKeepsKeysAndDecidesPending: notifications accepted by a
// process that never decided them (it ran no decider, and one was left
// claimed) are decided after a restart, and their keys still answer.
func TestRestartKeepsKeysAndDecidesPending(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg, func(c *server.Config) { c.Intake.Deciders = -1 })
			f.seed("ep-1", "ep-2")
			ids := map[string]string{}
			for i, asset := range []string{"ep-1", "ep-2", "ep-1"} {
				key := fmt.Sprint("r-", i)
				code, _, acc := f.do("POST", "/v1/notifications", `{"asset_id":"`+asset+`","partners":"all","idempotency_key":"`+key+`"}`)
				if code != 202 {
					t.Fatalf("accept %s: %d %v", key, code, acc)
				}
				ids[key] = acc["notification_id"].(string)
			}
			// A claim the process held when it stopped.
			if _, err := f.srv.Store.ClaimNotifications(context.Background(), "intake-test", time.Now().Add(time.Hour), 1, "r-0"); err != nil {
				t.Fatal(err)
			}
			if n, _, body := f.do("GET", "/v1/notifications/"+ids["r-0"], ""); n != 200 || body["status"] != "accepted" {
				t.Fatalf("before restart: %v", body)
			}
			f.close()

			f = start(t, cfg, nil)
			code, _, again := f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":"all","idempotency_key":"r-0"}`)
			if code != 200 || again["replayed"] != true || again["notification_id"] != ids["r-0"] {
				t.Fatalf("replay after restart: %d %v", code, again)
			}
			code, _, other := f.do("POST", "/v1/notifications", `{"asset_id":"ep-2","partners":"all","idempotency_key":"r-0"}`)
			if code != 409 || other["code"] != intake.CodeKeyReused {
				t.Fatalf("reused key after restart: %d %v", code, other)
			}
			actions := map[string]string{}
			for key, id := range ids {
				n := f.until(id, decided)
				actions[key] = n["decisions"].([]any)[0].(map[string]any)["action"].(string)
			}
			if actions["r-0"] != "create" || actions["r-1"] != "create" || actions["r-2"] != "noop" {
				t.Fatalf("actions: %v", actions)
			}
			if len(f.deliveries()) != 2 {
				t.Fatalf("deliveries: %v", f.deliveries())
			}
		})
	}
}

// TestBacklogFull: past the bound new notifications get 429 with
// Retry-After; what was accepted is decided once a decider runs.
func TestBacklogFull(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg, func(c *server.Config) { c.Intake.Deciders, c.Intake.MaxBacklog = -1, 2 })
			f.seed("ep-1")
			var ids []string
			for i := range 2 {
				code, _, acc := f.do("POST", "/v1/notifications", fmt.Sprintf(`{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"b-%d"}`, i))
				if code != 202 {
					t.Fatalf("accept %d: %d %v", i, code, acc)
				}
				ids = append(ids, acc["notification_id"].(string))
			}
			for _, req := range []struct{ path, body string }{
				{"/v1/notifications", `{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"b-2"}`},
				{"/v1/notifications:batch", `{"notifications":[{"asset_id":"ep-1","partners":["acme"]}]}`},
			} {
				code, h, body := f.do("POST", req.path, req.body)
				ra, err := strconv.Atoi(h.Get("Retry-After"))
				if code != 429 || body["code"] != intake.CodeBacklogFull || body["message"] == "" || err != nil || ra < 1 {
					t.Fatalf("%s over the bound: %d Retry-After %q %v", req.path, code, h.Get("Retry-After"), body)
				}
			}
			if code, _, n := f.do("GET", "/v1/notifications/"+ids[0], ""); code != 200 || n["status"] != "accepted" {
				t.Fatalf("accepted notification: %d %v", code, n)
			}
			f.close()
			f = start(t, cfg, func(c *server.Config) { c.Intake.MaxBacklog = 2 })
			for _, id := range ids {
				f.until(id, decided)
			}
			// The backlog drained: accepted again (the count is refreshed in the background).
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				code, _, body := f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"b-2"}`)
				if code == 202 {
					break
				}
				if code != 429 || time.Now().After(deadline) {
					t.Fatalf("after draining: %d %v", code, body)
				}
			}
		})
	}
}

// TestCatalogErrorsRetried: a failing catalog is retried with backoff,
// the tries are bounded and the notification then fails with the reason;
// while it is retried the error is visible, and once the catalog is back
// the notification is decided.
func TestCatalogErrorsRetried(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			startFlaky := func(attempts int) (*fixture, *flaky) {
				cat := &flaky{}
				cat.down.Store(true)
				cfg := cfg
				cfg.DataDir = t.TempDir()
				if cfg.DatabaseURL != "" {
					cfg = storetest.Postgres(t)
				}
				f := start(t, cfg, func(c *server.Config) {
					c.Assets = cat
					c.Intake.RetryBase, c.Intake.DecideAttempts = 5*time.Millisecond, attempts
				})
				cat.inner = catalog.Builtin{Store: f.srv.Store}
				f.seed("ep-1")
				return f, cat
			}

			f, cat := startFlaky(4)
			_, _, acc := f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":["acme"]}`)
			n := f.until(acc["notification_id"].(string), func(n map[string]any) bool { return n["status"] == "failed" })
			e := n["error"].(map[string]any)
			if e["code"] != intake.CodeCatalog || !strings.Contains(e["message"].(string), "503") || !strings.Contains(e["message"].(string), "4 attempts") {
				t.Fatalf("gave up: %v", n)
			}
			if c := cat.calls.Load(); c != 4 {
				t.Fatalf("%d lookups, want 4 (bounded)", c)
			}
			if len(f.deliveries()) != 0 {
				t.Fatal("a failed notification wrote deliveries")
			}
			f.close()

			f, cat = startFlaky(1_000_000)
			_, _, acc = f.do("POST", "/v1/notifications", `{"asset_id":"ep-1","partners":["acme"]}`)
			id := acc["notification_id"].(string)
			n = f.until(id, func(n map[string]any) bool { return n["error"] != nil && n["attempts"].(float64) >= 2 })
			if n["status"] != "accepted" || n["error"].(map[string]any)["code"] != intake.CodeCatalog {
				t.Fatalf("while retrying: %v", n)
			}
			cat.down.Store(false)
			n = f.until(id, func(n map[string]any) bool { return n["status"] != "accepted" })
			if n["status"] != "decided" || n["error"] != nil || len(n["decisions"].([]any)) != 1 {
				t.Fatalf("after recovery: %v", n)
			}
		})
	}
}

// TestSameKeyConcurrently: many requests with one key at once, some
// waiting for the decision: one notification, one delivery, every answer
// names the same notification.
func TestSameKeyConcurrently(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg, nil)
			f.seed("ep-1")
			var wg sync.WaitGroup
			ids := make([]any, 24)
			codes := make([]int, len(ids))
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := "/v1/notifications"
					if i%2 == 1 {
						path += "?wait=true"
					}
					req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(`{"asset_id":"ep-1","partners":"all","idempotency_key":"same"}`))
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					defer resp.Body.Close()
					var body map[string]any
					json.NewDecoder(resp.Body).Decode(&body)
					codes[i], ids[i] = resp.StatusCode, body["notification_id"]
				}()
			}
			wg.Wait()
			for i := range ids {
				if (codes[i] != 200 && codes[i] != 202) || ids[i] != ids[0] || ids[0] == nil {
					t.Fatalf("answer %d: %d %v (first %v)", i, codes[i], ids[i], ids[0])
				}
			}
			f.until(ids[0].(string), decided)
			if d := f.deliveries(); len(d) != 1 {
				t.Fatalf("%d deliveries, want 1", len(d))
			}
		})
	}
}

// TestBatch: good entries are accepted in one request, each bad one is
// reported at its index with its code; a body that is not a batch is
// refused whole.
func TestBatch(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg, nil)
			f.seed("ep-1", "ep-2")
			body := `{"notifications":[
				{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"x-1"},
				{"asset_id":7,"partners":["acme"]},
				{"asset_id":"ep-2","partners":["acme"],"priority":5000},
				{"asset_id":"ep-2","partners":["acme"],"colour":"red"},
				{"asset_id":"ep-2","partners":"all","idempotency_key":"x-1"},
				{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"x-1"},
				{"asset_id":"ep-2","partners":["acme"]}
			]}`
			code, _, resp := f.do("POST", "/v1/notifications:batch", body)
			if code != 202 {
				t.Fatalf("batch: %d %v", code, resp)
			}
			results := resp["results"].([]any)
			want := []struct{ status, code string }{
				{"accepted", ""}, {"refused", intake.CodeMalformed}, {"refused", intake.CodeInvalid}, {"refused", intake.CodeMalformed},
				{"refused", intake.CodeKeyReused}, {"accepted", ""}, {"accepted", ""},
			}
			if len(results) != len(want) || resp["accepted"] != 3.0 || resp["refused"] != 4.0 {
				t.Fatalf("results: %v", resp)
			}
			for i, w := range want {
				r := results[i].(map[string]any)
				e, _ := r["error"].(map[string]any)
				if r["index"] != float64(i) || r["status"] != w.status || (w.code != "" && (e == nil || e["code"] != w.code || e["message"] == "")) {
					t.Errorf("result %d: %v, want %s %s", i, r, w.status, w.code)
				}
			}
			first, dup := results[0].(map[string]any), results[5].(map[string]any)
			if dup["replayed"] != true || dup["notification_id"] != first["notification_id"] {
				t.Fatalf("same key twice in a batch: %v %v", first, dup)
			}
			f.until(first["notification_id"].(string), decided)
			f.until(results[6].(map[string]any)["notification_id"].(string), decided)

			// With ?wait=true the answer carries the decisions.
			code, _, resp = f.do("POST", "/v1/notifications:batch?wait=true", `{"notifications":[{"asset_id":"ep-1","partners":["acme"]},{"asset_id":"ep-9","partners":["acme"]}]}`)
			results = resp["results"].([]any)
			if code != 200 || results[0].(map[string]any)["status"] != "decided" || results[1].(map[string]any)["status"] != "failed" {
				t.Fatalf("batch wait: %d %v", code, resp)
			}
			if a := results[0].(map[string]any)["decisions"].([]any)[0].(map[string]any)["action"]; a != "noop" {
				t.Fatalf("batch wait decisions: %v", resp)
			}

			many := `{"notifications":[` + strings.Repeat(`{"asset_id":"ep-1","partners":["acme"]},`, intake.MaxBatch) + `{"asset_id":"ep-1","partners":["acme"]}]}`
			for _, c := range []struct{ name, body, code string }{
				{"not json", `{"notifications":`, intake.CodeMalformed},
				{"unknown field", `{"notifications":[],"extra":1}`, intake.CodeMalformed},
				{"not a list", `{"notifications":{}}`, intake.CodeMalformed},
				{"empty", `{"notifications":[]}`, intake.CodeInvalid},
				{"too many", many, intake.CodeInvalid},
			} {
				if code, _, body := f.do("POST", "/v1/notifications:batch", c.body); code != 400 || body["code"] != c.code {
					t.Errorf("%s: %d %v", c.name, code, body)
				}
			}
			if d := f.deliveries(); len(d) != 2 {
				t.Fatalf("%d deliveries, want 2", len(d))
			}
		})
	}
}
