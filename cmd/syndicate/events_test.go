package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestEventsSurviveSIGKILL: the server is killed after a delivery's state
// changes were committed but before any of their events was published (the
// webhook receiver was refusing them). After a restart the receiver gets
// every event of that delivery, in order; a repeat carries the same id.
func TestEventsSurviveSIGKILL(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { eventsSurviveKill(t, cfg) })
	}
}

// hookEvent is what the receiver keeps of each event it took.
type hookEvent struct{ ID, Type, Subject string }

func eventsSurviveKill(t *testing.T, cfg store.Config) {
	const secretValue = "whsec-kill-test-0123"
	t.Setenv("SYNDICATE_TEST_HOOK_SECRET", secretValue) // the server is a child: it inherits this
	var up atomic.Bool
	var refused atomic.Int32
	var mu sync.Mutex
	var taken []hookEvent
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := event.VerifySignature([]byte(secretValue), r.Header.Get(event.HeaderTimestamp), string(body),
			r.Header.Get(event.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !up.Load() {
			refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e hookEvent
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("receiver: %v: %s", err, body)
		}
		mu.Lock()
		taken = append(taken, e)
		mu.Unlock()
	}))
	defer recv.Close()

	work := t.TempDir()
	media := filepath.Join(work, "main.mxf")
	os.WriteFile(media, []byte("a small media file"), 0o644)
	profile := filepath.Join(work, "partner.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf("id: folder\nname: Folder\nformat: json\ndestination:\n  url: file://%s\n", filepath.Join(work, "partner"))), 0o644)
	catalog := filepath.Join(work, "catalog.json")
	os.WriteFile(catalog, []byte(fmt.Sprintf(`[{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"file://%s"}]}]`, media)), 0o644)

	p := serve(t, cfg.DataDir, cfg.DatabaseURL)
	out := cli(t, p.url, "webhooks", "add", "--url", recv.URL+"/hook", "--secret", "env:SYNDICATE_TEST_HOOK_SECRET",
		"--types", "queued,packaging,transferring,delivered,failed", "--max-attempts", "1000")
	hookID := strings.Fields(out)[0]
	cli(t, p.url, "partners", "apply", "-f", profile)
	cli(t, p.url, "assets", "import", catalog)
	id := notifyCreate(t, p.url, "--partners", "folder", "ep-1")

	// Delivered, and the dispatcher has tried (and failed) to publish.
	c := client.New(p.url, token)
	ctx := context.Background()
	poll(t, "the delivery to be delivered", func() bool {
		d, err := c.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == domain.StatusFailed {
			t.Fatalf("delivery failed: %+v\n%s", d, p.log.String())
		}
		return d.Status == domain.StatusDelivered
	})
	poll(t, "a refused publication", func() bool { return refused.Load() > 0 })
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	mu.Lock()
	if len(taken) != 0 {
		t.Fatalf("the receiver took %v before it was up", taken)
	}
	mu.Unlock()

	up.Store(true)
	p2 := serve(t, cfg.DataDir, cfg.DatabaseURL)
	want := []string{"queued", "packaging", "transferring", "delivered"}
	var got []hookEvent
	poll(t, "every event after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		got = distinctEvents(taken)
		return len(got) >= len(want)
	})
	var types []string
	for _, e := range got {
		if e.Subject != id {
			t.Errorf("event %s about %q, want delivery %s", e.ID, e.Subject, id)
		}
		types = append(types, strings.TrimPrefix(e.Type, "syndicate.delivery."))
	}
	if !slices.Equal(types, want) {
		t.Fatalf("receiver took %v, want %v in that order\n%s", types, want, p2.log.String())
	}

	// The same events, in the same order, for a pull consumer.
	lines := strings.Split(strings.TrimSpace(cli(t, p2.url, "events", "--after", "0")), "\n")
	if len(lines) != len(want) {
		t.Fatalf("syndicate events printed %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != fmt.Sprint(i+1) || f[2] != "syndicate.delivery."+want[i] || f[3] != id || f[5] != got[i].ID {
			t.Errorf("events line %d: %q", i, line)
		}
	}
	c2 := client.New(p2.url, token)
	poll(t, "the webhook's cursor at the head", func() bool {
		list, err := c2.Webhooks(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("webhooks: %v %v", list, err)
		}
		return list[0].Cursor == int64(len(want)) && list[0].Attempts == 0 && list[0].LastError == ""
	})
	mu.Lock()
	for _, e := range taken {
		if i := slices.IndexFunc(got, func(g hookEvent) bool { return g.ID == e.ID }); i < 0 || got[i] != e {
			t.Errorf("a repeated event differs from the first with its id: %+v", e)
		}
	}
	mu.Unlock()
	if out := cli(t, p2.url, "webhooks", "test", hookID); !strings.Contains(out, "HTTP 200") {
		t.Fatalf("webhooks test: %q", out)
	}
	if out := cli(t, p2.url, "webhooks", "remove", hookID); !strings.Contains(out, "removed") {
		t.Fatalf("webhooks remove: %q", out)
	}
}

// distinctEvents keeps the first of each event id: what a consumer that
// drops duplicates sees.
func distinctEvents(list []hookEvent) []hookEvent {
	seen := map[string]bool{}
	var out []hookEvent
	for _, e := range list {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(120 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
