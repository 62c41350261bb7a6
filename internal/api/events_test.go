package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

func TestWebhookBadInput(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	hook := func(fields string) string {
		return `{"url":"https://hooks.example.com/syndicate","secret":"env:HOOK_SECRET"` + fields + `}`
	}
	cases := []struct {
		name, method, path, tok, body string
		status                        int
		code                          string
	}{
		{"no token", "POST", "/v1/webhooks", "", hook(""), 401, "unauthorized"},
		{"wrong token", "POST", "/v1/webhooks", "wrong-token-00000000", hook(""), 401, "unauthorized"},
		{"no token list", "GET", "/v1/webhooks", "", "", 401, "unauthorized"},
		{"no token delete", "DELETE", "/v1/webhooks/x", "", "", 401, "unauthorized"},
		{"no token test", "POST", "/v1/webhooks/x/test", "", "", 401, "unauthorized"},
		{"no token replay", "POST", "/v1/webhooks/x/replay", "", "", 401, "unauthorized"},
		{"no token dead letters", "GET", "/v1/webhooks/x/dead-letters", "", "", 401, "unauthorized"},
		{"no token events", "GET", "/v1/events", "", "", 401, "unauthorized"},
		{"literal secret", "POST", "/v1/webhooks", token, `{"url":"https://h.example/x","secret":"hunter2"}`, 422, "invalid_webhook"},
		{"secret with colon", "POST", "/v1/webhooks", token, `{"url":"https://h.example/x","secret":"plain:hunter2"}`, 422, "invalid_webhook"},
		{"relative file secret", "POST", "/v1/webhooks", token, `{"url":"https://h.example/x","secret":"file:secret.txt"}`, 422, "invalid_webhook"},
		{"no secret", "POST", "/v1/webhooks", token, `{"url":"https://h.example/x"}`, 422, "invalid_webhook"},
		{"ftp url", "POST", "/v1/webhooks", token, `{"url":"ftp://h.example/x","secret":"env:S"}`, 422, "invalid_webhook"},
		{"no host", "POST", "/v1/webhooks", token, `{"url":"http:///x","secret":"env:S"}`, 422, "invalid_webhook"},
		{"not a url", "POST", "/v1/webhooks", token, `{"url":"hooks.example.com","secret":"env:S"}`, 422, "invalid_webhook"},
		{"empty url", "POST", "/v1/webhooks", token, `{"url":"","secret":"env:S"}`, 422, "invalid_webhook"},
		{"password in url", "POST", "/v1/webhooks", token, `{"url":"https://u:pw@h.example/x","secret":"env:S"}`, 422, "invalid_webhook"},
		{"unknown type", "POST", "/v1/webhooks", token, hook(`,"types":["syndicate.delivery.lost"]`), 422, "invalid_webhook"},
		{"short type", "POST", "/v1/webhooks", token, hook(`,"types":["delivered"]`), 422, "invalid_webhook"},
		{"negative attempts", "POST", "/v1/webhooks", token, hook(`,"max_attempts":-1`), 422, "invalid_webhook"},
		{"unknown kind", "POST", "/v1/webhooks", token, hook(`,"kind":"kafka"`), 422, "invalid_webhook"},
		{"nats url as webhook", "POST", "/v1/webhooks", token, `{"url":"nats://127.0.0.1:4222/s","secret":"env:S"}`, 422, "invalid_webhook"},
		{"nats without prefix", "POST", "/v1/webhooks", token, `{"kind":"nats","url":"nats://127.0.0.1:4222"}`, 422, "invalid_webhook"},
		{"nats wildcard prefix", "POST", "/v1/webhooks", token, `{"kind":"nats","url":"nats://127.0.0.1:4222/a.>"}`, 422, "invalid_webhook"},
		{"nats literal token", "POST", "/v1/webhooks", token, `{"kind":"nats","url":"nats://127.0.0.1:4222/a","secret":"s3cret"}`, 422, "invalid_webhook"},
		{"unknown field", "POST", "/v1/webhooks", token, hook(`,"retries":3`), 400, "malformed_json"},
		{"malformed", "POST", "/v1/webhooks", token, `{"url":`, 400, "malformed_json"},
		{"types not a list", "POST", "/v1/webhooks", token, hook(`,"types":"delivered"`), 400, "malformed_json"},
		{"missing webhook delete", "DELETE", "/v1/webhooks/nope", token, "", 404, "not_found"},
		{"missing webhook test", "POST", "/v1/webhooks/nope/test", token, "", 404, "not_found"},
		{"missing webhook replay", "POST", "/v1/webhooks/nope/replay", token, "", 404, "not_found"},
		{"missing webhook dead letters", "GET", "/v1/webhooks/nope/dead-letters", token, "", 404, "not_found"},
		{"events bad after", "GET", "/v1/events?after=-1", token, "", 400, "invalid_request"},
		{"events bad limit", "GET", "/v1/events?limit=0", token, "", 400, "invalid_request"},
		{"events unknown type", "GET", "/v1/events?type=syndicate.delivery.lost", token, "", 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.do(t, c.method, c.path, c.tok, "", c.body)
			if code != c.status || body["code"] != c.code || body["message"] == "" {
				t.Fatalf("got %d %v, want %d code %s", code, body, c.status, c.code)
			}
			if strings.Contains(body["message"].(string), "hunter2") || strings.Contains(body["message"].(string), "s3cret") {
				t.Fatalf("the error repeats the secret: %v", body)
			}
		})
	}
	if list, _ := f.srv.Store.ListSinks(t.Context()); len(list) != 0 {
		t.Fatalf("bad requests stored %d sinks", len(list))
	}
}

// TestWebhooksAPI walks a webhook through the API: add, list, test, the
// events of a real notification, pull consumers, replay, remove.
// TestEventFilterBounded: a filter of 40,000 partners was 500 (too many SQL
// variables); past the cap it is a 400 that says the cap.
func TestEventFilterBounded(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	many := make([]string, 40000)
	for i := range many {
		many[i] = fmt.Sprintf("p%d", i)
	}
	for _, q := range []string{"partner=" + strings.Join(many, ","), "type=" + strings.Repeat("syndicate.delivery.delivered,", 101)} {
		code, body := f.do(t, "GET", "/v1/events?"+q, token, "", "")
		if code != 400 || body["code"] != "invalid_request" || !strings.Contains(fmt.Sprint(body["message"]), "at most 100") {
			t.Errorf("%.30s…: %d %v", q, code, body)
		}
	}
	if code, _ := f.do(t, "GET", "/v1/events?partner="+strings.Join(many[:100], ","), token, "", ""); code != 200 {
		t.Errorf("100 partners: %d", code)
	}
}

func TestWebhooksAPI(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SYNDICATE_TEST_HOOK_SECRET", "whsec-api-test")
			var mu sync.Mutex
			var types []string
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				err := event.VerifySignature([]byte("whsec-api-test"), r.Header.Get(event.HeaderTimestamp), string(body),
					r.Header.Get(event.HeaderSignature), time.Now(), time.Minute)
				if err != nil {
					t.Errorf("receiver: %v", err)
				}
				mu.Lock()
				types = append(types, between(string(body), `"type":"`, `"`))
				mu.Unlock()
			}))
			defer recv.Close()
			f := start(t, cfg)
			f.seed(t)

			code, k := f.do(t, "POST", "/v1/webhooks", token, "", `{"url":"`+recv.URL+`","secret":"env:SYNDICATE_TEST_HOOK_SECRET","partners":["acme"]}`)
			if code != 201 || k["id"] == "" || k["kind"] != "webhook" || k["max_attempts"] != 20.0 {
				t.Fatalf("add: %d %v", code, k)
			}
			id := k["id"].(string)
			if code, list := f.do(t, "GET", "/v1/webhooks", token, "", ""); code != 200 || len(list["webhooks"].([]any)) != 1 {
				t.Fatalf("list: %d %v", code, list)
			}
			if code, res := f.do(t, "POST", "/v1/webhooks/"+id+"/test", token, "", ""); code != 200 || res["ok"] != true || res["status"] != 200.0 {
				t.Fatalf("test: %d %v", code, res)
			}

			if code, body := f.do(t, "POST", "/v1/notifications", token, "", `{"asset_id":"ep-1","partners":["acme"]}`); code != 202 {
				t.Fatalf("notify: %d %v", code, body)
			}
			want := []string{event.TestType, "syndicate.delivery.queued", "syndicate.delivery.packaging",
				"syndicate.delivery.transferring", "syndicate.delivery.delivered"}
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				mu.Lock()
				n := len(types)
				mu.Unlock()
				if n >= len(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("receiver got %v, want %v", types, want)
				}
			}
			mu.Lock()
			if strings.Join(types, " ") != strings.Join(want, " ") {
				t.Errorf("receiver got %v, want %v", types, want)
			}
			mu.Unlock()

			code, page := f.do(t, "GET", "/v1/events?after=1&type=syndicate.delivery.delivered,syndicate.delivery.transferring&partner=acme", token, "", "")
			evs, _ := page["events"].([]any)
			if code != 200 || len(evs) != 2 || page["next"] != 4.0 {
				t.Fatalf("events: %d %v", code, page)
			}
			if e := evs[1].(map[string]any); e["specversion"] != "1.0" || e["type"] != "syndicate.delivery.delivered" || e["partnerid"] != "acme" || e["sequence"] != "4" {
				t.Fatalf("event: %v", e)
			}
			if code, page := f.do(t, "GET", "/v1/events?after=4", token, "", ""); code != 200 || len(page["events"].([]any)) != 0 || page["next"] != 4.0 {
				t.Fatalf("events after the last: %d %v", code, page)
			}

			if code, dl := f.do(t, "GET", "/v1/webhooks/"+id+"/dead-letters", token, "", ""); code != 200 || len(dl["dead_letters"].([]any)) != 0 {
				t.Fatalf("dead letters: %d %v", code, dl)
			}
			if code, res := f.do(t, "POST", "/v1/webhooks/"+id+"/replay", token, "", ""); code != 200 || res["replayed"] != 0.0 {
				t.Fatalf("replay: %d %v", code, res)
			}
			if code, res := f.do(t, "DELETE", "/v1/webhooks/"+id, token, "", ""); code != 200 || res["deleted"] != id {
				t.Fatalf("delete: %d %v", code, res)
			}
			if code, _ := f.do(t, "DELETE", "/v1/webhooks/"+id, token, "", ""); code != 404 {
				t.Fatalf("delete again: %d", code)
			}
		})
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
