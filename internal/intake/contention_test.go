package intake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestNoFreezeWithDeliveriesUnderWay is the regression test of issue 14's
// freeze: many concurrent single notifications for assets that already
// have a delivery to the partner (the decider then reads the snapshot the
// partner last received), while new versions are being delivered (the
// engine's queue polling, step checkpoints and the deliveries' own writes
// compete for the database). On SQLite a query made on the pool inside the
// decider's write transaction waited for a connection that every other
// writer held while it waited for that transaction's lock: nothing moved
// until a 10 s busy timeout fired, again and again. Liveness with a
// generous bound, not a speed assertion.
func TestNoFreezeWithDeliveriesUnderWay(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			const assets, senders, each, partners = 60, 64, 4, 4
			var dests [partners]string
			for i := range dests {
				dests[i] = t.TempDir() // before the server: removed after it stops
			}
			f := start(t, cfg, nil)
			ids := make([]string, assets)
			for i := range ids {
				ids[i] = fmt.Sprintf("ep-%d", i)
			}
			f.seed(ids...)
			for i, dest := range dests {
				p := fmt.Sprintf(`{"id":"p%d","name":"P","format":"json","concurrency":8,"destination":{"url":"file://%s"}}`, i, dest)
				if code, _, body := f.do("PUT", fmt.Sprintf("/v1/partners/p%d", i), p); code != 200 {
					t.Fatalf("put partner: %d %v", code, body)
				}
			}
			var first strings.Builder
			for i, id := range ids {
				if i > 0 {
					first.WriteByte(',')
				}
				first.WriteString(`{"asset_id":"` + id + `","partners":"all"}`)
			}
			// Every asset gets a delivery to every partner; they run while
			// the notifications below arrive.
			if code, _, body := f.do("POST", "/v1/notifications:batch?wait=true", `{"notifications":[`+first.String()+`]}`); code != 200 {
				t.Fatalf("first batch: %d %v", code, body)
			}

			deadline := time.Now().Add(90 * time.Second)
			client := &http.Client{Timeout: 90 * time.Second}
			post := func(path, body string) (map[string]any, error) {
				req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var out map[string]any
				if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 202 {
					return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
				}
				return out, nil
			}
			var (
				mu       sync.Mutex
				accepted []string
				errs     []error
				wg       sync.WaitGroup
			)
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range each {
						id := ids[rand.IntN(assets)]
						out, err := post("/v1/notifications", fmt.Sprintf(`{"asset_id":%q,"partners":"all","idempotency_key":"c-%d-%d"}`, id, s, k))
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						} else {
							accepted = append(accepted, out["notification_id"].(string))
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("%d notifications not accepted, first: %v", len(errs), errs[0])
			}
			for _, id := range accepted {
				for {
					code, _, n := f.do("GET", "/v1/notifications/"+id, "")
					if code == 200 && n["status"] == "decided" {
						break
					}
					if code == 200 && n["status"] == "failed" {
						t.Fatalf("notification %s failed: %v", id, n)
					}
					if time.Now().After(deadline) {
						t.Fatalf("notification %s not decided in time (freeze?): %d %v", id, code, n)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}
