package api_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestDeliveryControl cancels a transfer in flight, retries it as a new
// run, reorders the queue, and refuses what makes no sense.
func TestDeliveryControl(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	dest := t.TempDir()
	media := filepath.Join(t.TempDir(), "slow.mxf")
	b := make([]byte, 600<<10)
	rand.Read(b)
	os.WriteFile(media, b, 0o644)
	body := `{"id":"slow","name":"Slow","format":"json","destination":{"url":"file://` + dest + `","max_bytes_per_second":200000}}`
	if code, resp := f.do(t, "PUT", "/v1/partners/slow", token, "", body); code != 200 {
		t.Fatal(code, resp)
	}
	notify := func(id string) string {
		f.do(t, "PUT", "/v1/assets/"+id, token, "", `{"id":"`+id+`","type":"clip","title":"T","media":[{"role":"main","uri":"`+media+`"}]}`)
		code, resp := f.do(t, "POST", "/v1/notifications?wait=true", token, "", `{"asset_id":"`+id+`","partners":["slow"]}`)
		if code != 200 {
			t.Fatal(code, resp)
		}
		return resp["decisions"].([]any)[0].(map[string]any)["delivery_id"].(string)
	}
	a, b2, c := notify("a"), notify("b"), notify("c")
	f.waitStatus(t, a, func(d domain.Delivery) bool { return d.Status == domain.StatusTransferring && d.Bytes > 0 })
	// At most 2 per partner run at once: c waits in the queue and can be moved.
	f.waitStatus(t, b2, func(d domain.Delivery) bool { return d.Status == domain.StatusTransferring })
	if dc, _ := f.srv.Store.GetDelivery(context.Background(), c); dc.Status != domain.StatusQueued {
		t.Fatalf("third delivery to a partner limited to 2 at once: %s", dc.Status)
	}
	code, resp := f.do(t, "POST", "/v1/deliveries/"+c+"/priority", token, "", `{"priority":0}`)
	if code != 200 || resp["priority"] != 0.0 {
		t.Fatalf("priority: %d %v", code, resp)
	}
	if code, resp := f.do(t, "POST", "/v1/deliveries/"+a+"/priority", token, "", `{"priority":1}`); code != 409 {
		t.Fatalf("priority of a running delivery: %d %v", code, resp)
	}
	code, resp = f.do(t, "POST", "/v1/deliveries/"+a+":cancel", token, "", "")
	if code != 200 || resp["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", code, resp)
	}
	if _, err := os.Stat(filepath.Join(dest, "a", "manifest.json")); err == nil {
		t.Fatal("a cancelled delivery completed")
	}
	code, resp = f.do(t, "POST", "/v1/deliveries/"+a+"/retry", token, "", "")
	if code != 200 || resp["status"] != "queued" || resp["run"] != 1.0 {
		t.Fatalf("retry: %d %v", code, resp)
	}
	d := f.waitStatus(t, a, func(d domain.Delivery) bool { return d.Status.Terminal() })
	if d.Status != domain.StatusDelivered {
		t.Fatalf("retried delivery: %+v", d)
	}
	for _, id := range []string{b2, c} {
		f.waitStatus(t, id, func(d domain.Delivery) bool { return d.Status == domain.StatusDelivered })
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"/v1/deliveries/" + a + "/retry", "", 409},  // delivered: nothing to retry
		{"/v1/deliveries/" + a + ":cancel", "", 409}, // finished
		{"/v1/deliveries/nope/cancel", "", 404},
		{"/v1/deliveries/" + a + "/explode", "", 404},
		{"/v1/deliveries/" + a + "/priority", `{"priority":5000}`, 400},
	} {
		if code, resp := f.do(t, "POST", c.path, token, "", c.body); code != c.status {
			t.Errorf("%s: %d %v, want %d", c.path, code, resp, c.status)
		}
	}
}
