package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// decisions maps partner id to its decision in a notification's answer.
func decisions(t *testing.T, body map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := body["decisions"].([]any)
	for _, d := range list {
		m := d.(map[string]any)
		out[m["partner_id"].(string)] = m
	}
	if len(out) == 0 {
		t.Fatalf("no decisions in %v", body)
	}
	return out
}

// waitDelivered polls GET /v1/deliveries/{id} until it is delivered.
func (f fixture) waitDelivered(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, d := f.do(t, "GET", "/v1/deliveries/"+id, token, "", "")
		if code != 200 {
			t.Fatalf("get delivery %s: %d %v", id, code, d)
		}
		switch d["status"] {
		case "delivered":
			return d
		case "failed", "cancelled":
			t.Fatalf("delivery %s: %v", id, d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s did not finish: %v", id, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fields(d map[string]any) string {
	list, _ := d["changes"].([]any)
	var out []string
	for _, c := range list {
		out = append(out, fmt.Sprint(c))
	}
	return strings.Join(out, ",")
}

// TestFieldLevelChanges drives decisions through the real API on SQLite:
// a metadata-only update for the partner that prints the synopsis, a
// noop for a csv partner without that column, the change set on the
// delivery, a dry run that records nothing, a window that opens later,
// and a takedown for every partner once the window has ended.
func TestFieldLevelChanges(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	for id, extra := range map[string]string{"acme": `"format":"json"`, "tube": `"format":"csv","format_options":{"columns":["id","title","media_file"]}`} {
		body := `{"id":"` + id + `","name":"` + id + `",` + extra + `,"destination":{"url":"file://` + t.TempDir() + `"}}`
		if code, resp := f.do(t, "PUT", "/v1/partners/"+id, token, "", body); code != 200 {
			t.Fatalf("partner %s: %d %v", id, code, resp)
		}
	}
	asset := func(synopsis, rights string) string {
		return `{"id":"ep-1","type":"episode","title":"Pilot","metadata":{"synopsis":"` + synopsis + `"},"media":[{"role":"main","uri":"` +
			f.media + `"}]` + rights + `}`
	}
	if code, body := f.do(t, "PUT", "/v1/assets/ep-1", token, "", asset("First.", "")); code != 200 {
		t.Fatalf("asset: %d %v", code, body)
	}
	code, body := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":"all"}`)
	if code != 200 {
		t.Fatalf("notify: %d %v", code, body)
	}
	for _, d := range decisions(t, body) {
		if d["action"] != "create" || d["scope"] != "full" {
			t.Fatalf("create: %v", d)
		}
		f.waitDelivered(t, d["delivery_id"].(string))
	}

	f.do(t, "PUT", "/v1/assets/ep-1", token, "", asset("Second.", ""))
	before := f.countDeliveries(t)
	code, dry := f.do(t, "POST", "/v1/notifications?dry_run=true", token, "", `{"asset_id":"ep-1","partners":"all","idempotency_key":"k-dry"}`)
	ds := decisions(t, dry)
	if code != 200 || dry["dry_run"] != true || ds["acme"]["action"] != "update" || ds["acme"]["scope"] != "metadata" ||
		ds["acme"]["delivery_id"] != "" || ds["tube"]["action"] != "noop" {
		t.Fatalf("dry run: %d %v", code, dry)
	}
	if n := f.countDeliveries(t); n != before {
		t.Fatalf("dry run recorded %d deliveries", n-before)
	}
	// The dry run's key was not stored: the real notification may use it.
	code, body = f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":"all","idempotency_key":"k-dry"}`)
	ds = decisions(t, body)
	if code != 200 || ds["acme"]["action"] != "update" || fmt.Sprint(ds["acme"]["changes"]) != "[metadata.synopsis]" ||
		ds["tube"]["action"] != "noop" || !strings.Contains(ds["tube"]["reason"].(string), "metadata.synopsis") {
		t.Fatalf("update: %d %v", code, body)
	}
	d := f.waitDelivered(t, ds["acme"]["delivery_id"].(string))
	if d["scope"] != "metadata" || d["files"] != 2.0 ||
		fields(d) != "map[field:metadata.synopsis kind:metadata new:Second. old:First.]" {
		t.Fatalf("GET delivery shows the change set: %v", d)
	}

	// A window that opens in an hour: scheduled, nothing delivered.
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.do(t, "PUT", "/v1/assets/ep-2", token, "", strings.Replace(asset("x", `,"rights":{"start":"`+start+`"}`), "ep-1", "ep-2", 1))
	code, body = f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-2","partners":["acme"]}`)
	if a := decisions(t, body)["acme"]; code != 200 || a["action"] != "scheduled" || a["at"] != start || a["delivery_id"] != "" {
		t.Fatalf("future window: %d %v", code, body)
	}

	// The window ended: a takedown for each partner that has the asset.
	ended := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	f.do(t, "PUT", "/v1/assets/ep-1", token, "", asset("Second.", `,"rights":{"end":"`+ended+`"}`))
	code, body = f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":"all"}`)
	for id, d := range decisions(t, body) {
		if code != 200 || d["action"] != "takedown" {
			t.Fatalf("%s: %d %v", id, code, d)
		}
		if got := f.waitDelivered(t, d["delivery_id"].(string)); got["action"] != "takedown" || got["files"] != 2.0 {
			t.Fatalf("%s takedown: %v", id, got)
		}
	}
}

func TestChangeBadInput(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	f.seed(t)
	media := `"media":[{"role":"main","uri":"` + f.media + `"}]`
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"dry_run not a bool", "POST", "/v1/notifications?dry_run=maybe", `{"asset_id":"ep-1","partners":"all"}`, 400, "invalid_request", "dry_run: want true or false"},
		{"dry run unknown asset", "POST", "/v1/notifications?dry_run=true", `{"asset_id":"ep-9","partners":"all"}`, 422, "unknown_asset", "ep-9"},
		{"rights end before start", "PUT", "/v1/assets/ep-3", `{"type":"movie","title":"T",` + media + `,"rights":{"start":"2026-02-01T00:00:00Z","end":"2026-01-01T00:00:00Z"}}`, 422, "invalid_asset", "rights.end: must be after rights.start"},
		{"rights empty", "PUT", "/v1/assets/ep-3", `{"type":"movie","title":"T",` + media + `,"rights":{}}`, 422, "invalid_asset", "rights: give start, end or both"},
		{"rights not RFC 3339", "PUT", "/v1/assets/ep-3", `{"type":"movie","title":"T",` + media + `,"rights":{"end":"next tuesday"}}`, 400, "malformed_json", ""},
		{"rights unknown field", "PUT", "/v1/assets/ep-3", `{"type":"movie","title":"T",` + media + `,"rights":{"until":"2026-01-01T00:00:00Z"}}`, 400, "malformed_json", "until"},
		{"required field rights.middle", "PUT", "/v1/partners/p3", `{"name":"P","format":"json","destination":{"url":"file:///tmp/x"},"rules":{"required_fields":["rights.middle"]}}`, 422, "invalid_partner", "rights"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.do(t, c.method, c.path, token, "", c.body)
			if code != c.status || body["code"] != c.code || !strings.Contains(fmt.Sprint(body["message"]), c.message) {
				t.Fatalf("got %d %v, want %d %s %q", code, body, c.status, c.code, c.message)
			}
		})
	}
	if n := f.countDeliveries(t); n != 0 {
		t.Fatalf("bad requests wrote %d deliveries", n)
	}
	if code, _ := f.do(t, "GET", "/v1/assets/ep-3", token, "", ""); code != 404 {
		t.Fatal("a refused asset was stored")
	}
}

// TestRequiredRights: a partner whose rules require a rights window
// skips assets without one.
func TestRequiredRights(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	f.seed(t)
	body := `{"id":"strict","name":"S","format":"json","destination":{"url":"file://` + t.TempDir() + `"},"rules":{"required_fields":["rights.end"]}}`
	if code, resp := f.do(t, "PUT", "/v1/partners/strict", token, "", body); code != 200 {
		t.Fatalf("%d %v", code, resp)
	}
	code, resp := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":["strict"]}`)
	if d := decisions(t, resp)["strict"]; code != 200 || d["action"] != "skip" || !strings.Contains(d["reason"].(string), "rights.end") {
		t.Fatalf("%d %v", code, resp)
	}
}
