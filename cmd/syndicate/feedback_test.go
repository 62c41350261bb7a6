package main_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestFeedbackCLI plays a partner from the command line: a key is made
// with `partners keys create` and used by `feedback send`, signed.
func TestFeedbackCLI(t *testing.T) {
	cfg := storetest.SQLite(t)
	work := t.TempDir()
	media := filepath.Join(work, "m.mp4")
	b := make([]byte, 1000)
	rand.Read(b)
	os.WriteFile(media, b, 0o644)
	profile := filepath.Join(work, "p.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf("id: tv2\nname: TV2\nformat: json\ndestination:\n  url: file://%s/out\nfeedback:\n  require_signature: true\n  signing_secret: file:%s/hmac\n", work, work)), 0o644)
	os.WriteFile(filepath.Join(work, "hmac"), []byte("s3cret-hmac"), 0o600)
	catalog := filepath.Join(work, "c.json")
	os.WriteFile(catalog, []byte(fmt.Sprintf(`{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"%s"}]}`, media)), 0o644)

	p := serve(t, cfg.DataDir, "")
	cli(t, p.url, "partners", "apply", "-f", profile)
	cli(t, p.url, "assets", "import", catalog)
	id := notifyCreate(t, p.url, "ep-1")
	c := client.New(p.url, token)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := c.Delivery(context.Background(), id)
		if err == nil && d.Status == domain.StatusDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v %v", d, err)
		}
	}
	if out := cli(t, p.url, "deliveries", "watch", id); !strings.Contains(out, "delivered") || !strings.Contains(out, "100%") {
		t.Fatalf("watch: %q", out)
	}
	if msg := cliFails(t, p.url, "deliveries", "retry", id); !strings.Contains(msg, "cannot retry a delivery that is delivered") {
		t.Fatalf("retry of a delivered delivery: %q", msg)
	}
	out := cli(t, p.url, "partners", "keys", "create", "tv2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "synp_") {
		t.Fatalf("keys create output: %q", out)
	}
	out = cli(t, p.url, "feedback", "send", "--key", key, "--sign", "file:"+filepath.Join(work, "hmac"), "--reference", "TV2-9", id, "processed")
	if !strings.Contains(out, "ack processed") {
		t.Fatalf("feedback send: %q", out)
	}
	if d, _ := c.Delivery(context.Background(), id); d.Ack != domain.AckProcessed || d.PartnerRef != "TV2-9" {
		t.Fatalf("delivery after feedback: %+v", d)
	}
	if out := cli(t, p.url, "partners", "keys", "list", "tv2"); !strings.Contains(out, `"partner_id": "tv2"`) || strings.Contains(out, key) {
		t.Fatalf("keys list must show the key's info but never the key: %q", out)
	}
}
