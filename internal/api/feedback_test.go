package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// delivered seeds two partners, notifies ep-1 to both, waits until both
// deliveries are delivered and returns their ids by partner.
func (f fixture) delivered(t *testing.T, acmeExtra string) map[string]string {
	t.Helper()
	for id, extra := range map[string]string{"acme": acmeExtra, "other": ""} {
		body := `{"id":"` + id + `","name":"` + id + `","format":"json","destination":{"url":"file://` + t.TempDir() + `"}` + extra + `}`
		if code, resp := f.do(t, "PUT", "/v1/partners/"+id, token, "", body); code != 200 {
			t.Fatalf("partner %s: %d %v", id, code, resp)
		}
	}
	asset := `{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"` + f.media + `"}]}`
	f.do(t, "PUT", "/v1/assets/ep-1", token, "", asset)
	code, resp := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":"all"}`)
	if code != 200 {
		t.Fatalf("notify: %d %v", code, resp)
	}
	ids := map[string]string{}
	for _, d := range resp["decisions"].([]any) {
		m := d.(map[string]any)
		ids[m["partner_id"].(string)] = m["delivery_id"].(string)
	}
	for _, id := range ids {
		f.waitStatus(t, id, func(d domain.Delivery) bool { return d.Status == domain.StatusDelivered })
	}
	return ids
}

func (f fixture) waitStatus(t *testing.T, id string, ok func(domain.Delivery) bool) domain.Delivery {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d, err := f.srv.Store.GetDelivery(context.Background(), id)
		if err == nil && ok(d) {
			return d
		}
	}
	d, _ := f.srv.Store.GetDelivery(context.Background(), id)
	t.Fatalf("delivery %s never reached the wanted state: %+v", id, d)
	return d
}

func (f fixture) key(t *testing.T, partner, body string) string {
	t.Helper()
	code, resp := f.do(t, "POST", "/v1/partners/"+partner+"/keys", token, "", body)
	if code != 201 || !strings.HasPrefix(resp["key"].(string), feedback.KeyPrefix) {
		t.Fatalf("create key: %d %v", code, resp)
	}
	return resp["key"].(string)
}

func TestFeedbackRoundTrip(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			f := start(t, cfg)
			ids := f.delivered(t, `,"feedback":{"redeliver_on_reject":1}`)
			key := f.key(t, "acme", "")
			path := "/v1/partner/deliveries/" + ids["acme"] + "/feedback"

			code, resp := f.do(t, "POST", path, key, "", `{"status":"received","reference":"ACME-77"}`)
			if code != 201 || resp["delivery"].(map[string]any)["ack"] != "received" {
				t.Fatalf("received: %d %v", code, resp)
			}
			// The same report again: recorded once.
			code, resp = f.do(t, "POST", path, key, "", `{"status":"received","reference":"ACME-77"}`)
			if code != 200 || resp["duplicate"] != true {
				t.Fatalf("duplicate: %d %v", code, resp)
			}
			code, resp = f.do(t, "POST", path, key, "", `{"status":"rejected","reason":"audio track missing"}`)
			if code != 201 || resp["redelivery"] == nil {
				t.Fatalf("rejected: %d %v", code, resp)
			}
			// The rejection started a redelivery, which completes.
			redo := resp["redelivery"].(string)
			d := f.waitStatus(t, redo, func(d domain.Delivery) bool { return d.Status == domain.StatusDelivered })
			if d.RedeliveryOf != ids["acme"] {
				t.Fatalf("redelivery: %+v", d)
			}
			// A second rejection (of the redelivery) is over budget: no third delivery.
			code, resp = f.do(t, "POST", "/v1/partner/deliveries/"+redo+"/feedback", key, "", `{"status":"rejected","reason":"still no audio"}`)
			if code != 201 || resp["redelivery"] != nil {
				t.Fatalf("over budget: %d %v", code, resp)
			}
			// Moving back after a final answer is refused.
			code, resp = f.do(t, "POST", path, key, "", `{"status":"processed"}`)
			if code != 409 || resp["code"] != "feedback_conflict" {
				t.Fatalf("after rejected: %d %v", code, resp)
			}
			list, _ := f.srv.Store.ListFeedback(context.Background(), ids["acme"])
			if len(list) != 2 {
				t.Fatalf("feedback rows = %d, want 2 (received once, rejected)", len(list))
			}
			code, resp = f.do(t, "GET", "/v1/partner/deliveries/"+ids["acme"], key, "", "")
			if code != 200 || resp["partner_ref"] != "ACME-77" || resp["ack"] != "rejected" {
				t.Fatalf("partner read: %d %v", code, resp)
			}
		})
	}
}

// TestPartnerSeesNoInternals: a partner reading its deliveries gets a
// generic message for a failure, never the server's paths or errors.
func TestPartnerSeesNoInternals(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	blocker := filepath.Join(t.TempDir(), "internal-blocker")
	os.WriteFile(blocker, []byte("a file where a folder should be"), 0o644)
	body := `{"id":"acme","name":"acme","format":"json","retry":{"max_attempts":1},"destination":{"url":"file://` + blocker + `/sub"}}`
	if code, resp := f.do(t, "PUT", "/v1/partners/acme", token, "", body); code != 200 {
		t.Fatalf("partner: %d %v", code, resp)
	}
	f.do(t, "PUT", "/v1/assets/ep-1", token, "", `{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"`+f.media+`"}]}`)
	code, resp := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"ep-1","partners":"all"}`)
	if code != 200 {
		t.Fatalf("notify: %d %v", code, resp)
	}
	id := resp["decisions"].([]any)[0].(map[string]any)["delivery_id"].(string)
	d := f.waitStatus(t, id, func(d domain.Delivery) bool { return d.Status == domain.StatusFailed })
	if !strings.Contains(d.LastError, "internal-blocker") {
		t.Fatalf("the operator's last_error should name the path: %q", d.LastError)
	}
	key := f.key(t, "acme", "")
	for _, path := range []string{"/v1/partner/deliveries/" + id, "/v1/partner/deliveries"} {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.Contains(string(b), "internal-blocker") || strings.Contains(string(b), os.TempDir()) ||
			!strings.Contains(string(b), "the sender's operator has the details") {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
		}
	}
}

func TestFeedbackRefusals(t *testing.T) {
	t.Setenv("SYN_TEST_FEEDBACK_HMAC", "shared-signing-secret")
	f := start(t, storetest.SQLite(t))
	ids := f.delivered(t, `,"feedback":{"require_signature":true,"signing_secret":"env:SYN_TEST_FEEDBACK_HMAC","requests_per_second":50}`)
	key := f.key(t, "acme", "")
	otherKey := f.key(t, "other", "")
	revoked := f.key(t, "acme", "")
	expired := f.key(t, "acme", `{"expires_in":"1ms"}`)
	keys, _ := f.srv.Store.ListPartnerKeys(context.Background(), "acme")
	for _, k := range keys {
		if secret.HashToken(revoked) == k.Hash {
			if code, _ := f.do(t, "DELETE", "/v1/partners/acme/keys/"+k.ID, token, "", ""); code != 200 {
				t.Fatal("revoke failed")
			}
		}
	}
	time.Sleep(5 * time.Millisecond)
	path := "/v1/partner/deliveries/" + ids["acme"] + "/feedback"
	body := `{"status":"processed"}`
	secret := []byte("shared-signing-secret")
	now := time.Now().Unix()
	signed := func(ts int64, b string) map[string]string {
		return map[string]string{"Syndicate-Timestamp": strconv.FormatInt(ts, 10), "Syndicate-Signature": feedback.Sign(secret, ts, []byte(b))}
	}
	cases := []struct {
		name, key, path, body string
		headers               map[string]string
		status                int
		code                  string
	}{
		{"no key", "", path, body, signed(now, body), 401, "unauthorized"},
		{"admin token is not a partner key", token, path, body, signed(now, body), 401, "unauthorized"},
		{"unknown key", feedback.KeyPrefix + "00", path, body, signed(now, body), 401, "unauthorized"},
		{"revoked key", revoked, path, body, signed(now, body), 401, "unauthorized"},
		{"expired key", expired, path, body, signed(now, body), 401, "unauthorized"},
		{"unsigned", key, path, body, nil, 401, "bad_signature"},
		{"bad signature", key, path, body, signed(now, `{"status":"rejected"}`), 401, "bad_signature"},
		{"old timestamp", key, path, body, signed(now-600, body), 401, "bad_signature"},
		{"malformed body", key, path, `{"status":`, signed(now, `{"status":`), 400, "malformed_json"},
		{"unknown field", key, path, `{"status":"processed","x":1}`, signed(now, `{"status":"processed","x":1}`), 400, "malformed_json"},
		{"bad status", key, path, `{"status":"great"}`, signed(now, `{"status":"great"}`), 400, "invalid_feedback"},
		{"rejection without reason", key, path, `{"status":"rejected"}`, signed(now+1, `{"status":"rejected"}`), 400, "invalid_feedback"},
		{"unknown delivery", key, "/v1/partner/deliveries/nope/feedback", body, signed(now+2, body), 404, "not_found"},
		{"another partner's delivery", otherKey, path, body, signed(now+3, body), 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, resp := f.doHeaders(t, "POST", c.path, c.key, c.body, c.headers)
			if code != c.status || resp["code"] != c.code {
				t.Fatalf("got %d %v, want %d %s", code, resp, c.status, c.code)
			}
		})
	}
	if list, _ := f.srv.Store.ListFeedback(context.Background(), ids["acme"]); len(list) != 0 {
		t.Fatalf("refused requests recorded %d feedback rows", len(list))
	}
	good := signed(now+10, body)
	if code, resp := f.doHeaders(t, "POST", path, key, body, good); code != 201 {
		t.Fatalf("good signed request: %d %v", code, resp)
	}
	if code, resp := f.doHeaders(t, "POST", path, key, body, good); code != 401 || resp["code"] != "replayed_signature" {
		t.Fatalf("replayed: %d %v", code, resp)
	}
	// The other partner cannot read acme's delivery either.
	if code, _ := f.do(t, "GET", "/v1/partner/deliveries/"+ids["acme"], otherKey, "", ""); code != 404 {
		t.Fatalf("cross-partner read: %d", code)
	}
	code, resp := f.do(t, "GET", "/v1/partner/deliveries", otherKey, "", "")
	if list := resp["deliveries"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["partner_id"] != "other" {
		t.Fatalf("other's list: %d %v", code, resp)
	}
}

func TestFeedbackRateLimit(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	ids := f.delivered(t, `,"feedback":{"requests_per_second":1}`)
	key := f.key(t, "acme", "")
	limited := 0
	for range 20 {
		code, resp := f.do(t, "GET", "/v1/partner/deliveries/"+ids["acme"], key, "", "")
		if code == 429 {
			limited++
			if resp["code"] != "rate_limited" {
				t.Fatalf("429 body: %v", resp)
			}
		}
	}
	if limited == 0 {
		t.Fatal("20 quick requests at 1/s were never limited")
	}
}

func TestAckTimeoutAndReceipts(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	ids := f.delivered(t, `,"feedback":{"ack_timeout":"1ms","receipt":{"name":"status.csv","format":"csv"}}`)
	ctx := context.Background()
	fb := &feedback.Service{Store: f.srv.Store, Log: discard()}
	time.Sleep(5 * time.Millisecond)
	if err := fb.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ := f.srv.Store.GetDelivery(ctx, ids["acme"])
	if d.Ack != domain.AckUnacknowledged || !strings.Contains(d.AckReason, "no feedback within") {
		t.Fatalf("after timeout: %+v", d)
	}
	if o, _ := f.srv.Store.GetDelivery(ctx, ids["other"]); o.Ack != domain.AckNone {
		t.Fatalf("partner without ack_timeout was marked: %+v", o)
	}
	// The partner drops a receipt next to the package; the next sweep reads it.
	p, _ := f.srv.Store.GetPartner(ctx, "acme")
	dir := strings.TrimPrefix(p.Destination.URL, "file://") + "/" + p.PackageDir("ep-1", d.ID)
	writeFile(t, dir+"/status.csv", "Video ID,Status,Error\nYT-123,Success,\n")
	if err := fb.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = f.srv.Store.GetDelivery(ctx, ids["acme"])
	if d.Ack != domain.AckProcessed || d.PartnerRef != "YT-123" {
		t.Fatalf("after receipt: %+v", d)
	}
	list, _ := f.srv.Store.ListFeedback(ctx, d.ID)
	if len(list) != 1 || list[0].Source != "receipt" {
		t.Fatalf("feedback: %+v", list)
	}
	// Each change wrote its event.
	f.srv.Store.StampEvents(ctx, 1000)
	evs, _ := f.srv.Store.EventsAfter(ctx, 0, 1000)
	var types []string
	for _, e := range evs {
		if e.Subject == d.ID {
			types = append(types, e.Type)
		}
	}
	if got := fmt.Sprint(types[len(types)-2:]); got != fmt.Sprint([]string{store.EventType("unacknowledged"), store.EventType("processed")}) {
		t.Fatalf("events: %v", types)
	}
}
