package api_test

import (
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestPartnerProblems checks that a profile with several mistakes is
// refused with every one of them, each at its field and line, and that no
// problem quotes the secret written where a reference belongs.
func TestPartnerProblems(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	doc := "name: Acme\nformat: json\ncolour: blue\ndestination:\n  url: sftp://acme@h.example/in\n  credentials: hunter2-secret\nretry:\n  max_attempts: five\n"
	code, body := f.do(t, "PUT", "/v1/partners/acme", token, "application/yaml", doc)
	if code != 422 || body["code"] != "invalid_partner" {
		t.Fatalf("%d %v", code, body)
	}
	probs, _ := body["problems"].([]any)
	want := []struct {
		path string
		line float64
	}{{"colour", 3}, {"destination.credentials", 6}, {"retry.max_attempts", 8}}
	if len(probs) != len(want) {
		t.Fatalf("want %d problems: %v", len(want), body)
	}
	for i, w := range want {
		p := probs[i].(map[string]any)
		if p["path"] != w.path || p["line"] != w.line || p["column"] == 0.0 || p["message"] == "" {
			t.Errorf("problem %d: %v, want %s at line %v", i, p, w.path, w.line)
		}
	}
	if msg, _ := body["message"].(string); !strings.Contains(msg, "3 problems") || strings.Contains(msg, "hunter2") {
		t.Errorf("message: %q", msg)
	}
	if code, _ := f.do(t, "GET", "/v1/partners/acme", token, "", ""); code != 404 {
		t.Fatal("a refused partner was stored")
	}

	// JSON with a $schema key, without an id (the path gives it): stored.
	good := `{"$schema":"./partner.schema.json","name":"Acme","format":"json","destination":{"url":"file://` + t.TempDir() + `"}}`
	if code, body := f.do(t, "PUT", "/v1/partners/acme", token, "application/json", good); code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	// An id that differs from the path's is one of the problems.
	code, body = f.do(t, "PUT", "/v1/partners/acme", token, "application/json", strings.Replace(good, `"name"`, `"id":"other","name"`, 1))
	if code != 422 || !strings.Contains(body["message"].(string), `id: "other" differs`) {
		t.Fatalf("%d %v", code, body)
	}
}
