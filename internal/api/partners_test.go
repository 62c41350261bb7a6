package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

func profile(name, url, extra string) string {
	return `{"id":"acme","name":"` + name + `","format":"json","destination":{"url":"` + url + `"},"retry":{"max_attempts":1}` + extra + `}`
}

func TestPartnerVersions(t *testing.T) {
	for dialect, cfg := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			f := start(t, cfg)
			url := "file://" + t.TempDir()
			put := func(q, body string) map[string]any {
				t.Helper()
				code, resp := f.do(t, "PUT", "/v1/partners/acme"+q, token, "", body)
				if code != 200 {
					t.Fatalf("PUT %s: %d %v", q, code, resp)
				}
				return resp
			}
			if r := put("?message=first", profile("Acme", url, "")); r["version"] != 1.0 || r["changed"] != true {
				t.Fatalf("v1: %v", r)
			}
			if r := put("", profile("Acme", url, "")); r["version"] != 1.0 || r["changed"] != false {
				t.Fatalf("unchanged apply made a version: %v", r)
			}
			dry := put("?dry_run=true", profile("Acme Corp", url, ""))
			if ch := dry["changes"].([]any); len(ch) != 1 || ch[0].(map[string]any)["path"] != "name" {
				t.Fatalf("dry run: %v", dry)
			}
			if r := put("?message=rename&author=ops", profile("Acme Corp", url, "")); r["version"] != 2.0 {
				t.Fatalf("v2: %v", r)
			}
			code, hist := f.do(t, "GET", "/v1/partners/acme/versions", token, "", "")
			vs := hist["versions"].([]any)
			if code != 200 || len(vs) != 2 || vs[0].(map[string]any)["author"] != "ops" || vs[0].(map[string]any)["message"] != "rename" {
				t.Fatalf("history: %d %v", code, hist)
			}
			_, diff := f.do(t, "GET", "/v1/partners/acme/diff?from=1&to=2", token, "", "")
			if ch := diff["changes"].([]any); len(ch) != 1 || ch[0].(map[string]any)["to"] != "Acme Corp" {
				t.Fatalf("diff: %v", diff)
			}
			code, rb := f.do(t, "POST", "/v1/partners/acme/rollback", token, "", `{"to":1}`)
			if code != 200 || rb["version"] != 3.0 || rb["partner"].(map[string]any)["name"] != "Acme" {
				t.Fatalf("rollback: %d %v", code, rb)
			}
			if code, resp := f.do(t, "POST", "/v1/partners/acme/promote", token, "", ""); code != 409 || resp["code"] != "no_rollout" {
				t.Fatalf("promote without rollout: %d %v", code, resp)
			}
			for _, q := range []string{"?rollout=0", "?rollout=150", "?rollout=half"} {
				if code, _ := f.do(t, "PUT", "/v1/partners/acme"+q, token, "", profile("X", url, "")); code != 400 {
					t.Errorf("%s: %d, want 400", q, code)
				}
			}
			if code, _ := f.do(t, "GET", "/v1/partners/acme/versions/9", token, "", ""); code != 404 {
				t.Errorf("missing version: %d", code)
			}
			// A rollout, then promote.
			r := put("?rollout=30", profile("Acme v4", url, ""))
			ro := r["rollout"].(map[string]any)
			if ro["active"] != 3.0 || ro["candidate"] != 4.0 || ro["percent"] != 30.0 {
				t.Fatalf("rollout: %v", r)
			}
			_, cur := f.do(t, "GET", "/v1/partners/acme", token, "", "")
			if cur["partner"].(map[string]any)["name"] != "Acme" {
				t.Fatalf("active profile changed during rollout: %v", cur)
			}
			if code, resp := f.do(t, "POST", "/v1/partners/acme/promote", token, "", ""); code != 200 || resp["rollout"].(map[string]any)["active"] != 4.0 {
				t.Fatalf("promote: %d %v", code, resp)
			}
		})
	}
}

// TestRolloutRollsBackByItself starts a 50 % rollout of a profile whose
// destination cannot work; once the candidate's deliveries fail past the
// policy, the rollout is rolled back, an event says so, and later
// deliveries all use the good version.
func TestRolloutRollsBackByItself(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	ctx := context.Background()
	good := "file://" + t.TempDir()
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(blocker, []byte("x"), 0o644)
	if code, resp := f.do(t, "PUT", "/v1/partners/acme", token, "", profile("Acme", good, "")); code != 200 {
		t.Fatal(code, resp)
	}
	bad := profile("Acme broken", "file://"+blocker+"/in", `,"rollout":{"window":3,"max_failure_rate":0.5}`)
	if code, resp := f.do(t, "PUT", "/v1/partners/acme?rollout=50", token, "", bad); code != 200 {
		t.Fatal(code, resp)
	}
	byVersion := map[int][]string{}
	for i := range 16 {
		id := fmt.Sprintf("ep-%d", i)
		f.do(t, "PUT", "/v1/assets/"+id, token, "", `{"id":"`+id+`","type":"episode","title":"T","media":[{"role":"main","uri":"`+f.media+`"}]}`)
		code, resp := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"`+id+`","partners":["acme"]}`)
		if code != 200 {
			t.Fatal(code, resp)
		}
		did := resp["decisions"].([]any)[0].(map[string]any)["delivery_id"].(string)
		d := f.waitStatus(t, did, func(d domain.Delivery) bool { return d.Status.Terminal() })
		byVersion[d.PartnerVersion] = append(byVersion[d.PartnerVersion], d.ID)
		if d.PartnerVersion == 2 && d.Status != domain.StatusFailed {
			t.Fatalf("candidate delivery did not fail: %+v", d)
		}
	}
	if n := len(byVersion[2]); n != 3 {
		t.Fatalf("candidate served %d deliveries, want exactly 3 (the window) before rolling back; %v", n, byVersion)
	}
	ro, err := f.srv.Store.Rollout(ctx, "acme")
	if err != nil || ro.Candidate != 0 || ro.Active != 1 || ro.Log[len(ro.Log)-1].Action != "rolled_back" {
		t.Fatalf("rollout after failures: %+v %v", ro, err)
	}
	f.srv.Store.StampEvents(ctx, 10000)
	evs, _ := f.srv.Store.EventsAfter(ctx, 0, 10000)
	found := false
	for _, e := range evs {
		found = found || (e.Type == "syndicate.partner.rolled_back" && e.Subject == "acme")
	}
	if !found {
		t.Fatal("no rollback event")
	}
}
