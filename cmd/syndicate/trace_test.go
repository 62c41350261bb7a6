package main_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// TestTraceAcrossRestart SIGKILLs `syndicate serve` mid-transfer and
// restarts it on the same database: `syndicate trace ID` then shows one
// trace with the spans of both processes — the request, start and package
// and the cut transfer (unfinished) from the first, the resumed transfer
// (attempt 2), its transport operations and finish from the second —
// with every parent link intact.
func TestTraceAcrossRestart(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { traceAcrossRestart(t, cfg) })
	}
}

func traceAcrossRestart(t *testing.T, cfg store.Config) {
	work := t.TempDir()
	dest := filepath.Join(work, "partner")
	media := filepath.Join(work, "main.mxf")
	data := make([]byte, 6<<20)
	rand.Read(data)
	os.WriteFile(media, data, 0o644)
	profile := filepath.Join(work, "partner.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf("id: slowtv\nname: Slow TV\nformat: json\ndestination:\n  url: file://%s\n  max_bytes_per_second: 1048576\n", dest)), 0o644)
	catalog := filepath.Join(work, "catalog.json")
	os.WriteFile(catalog, []byte(fmt.Sprintf(`[{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"file://%s"}]}]`, media)), 0o644)

	p := serve(t, cfg.DataDir, cfg.DatabaseURL)
	cli(t, p.url, "partners", "apply", "-f", profile)
	cli(t, p.url, "assets", "import", catalog)
	id := notifyCreate(t, p.url, "--partners", "slowtv", "ep-1")
	c := client.New(p.url, token)
	ctx := context.Background()
	// Kill once the transfer runs and its span's start is stored.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := c.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var tr telemetry.Trace
		if err := c.Do(ctx, "GET", "/v1/deliveries/"+id+"/trace", "", nil, &tr); err != nil {
			t.Fatal(err)
		}
		if d.Status == domain.StatusTransferring && d.Bytes > 0 && len(named(tr, "transfer")) == 1 && len(named(tr, "POST /v1/notifications")) == 1 {
			break
		}
		if d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("never caught the delivery mid-transfer with its span stored: %+v", d)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	if _, err := os.Stat(filepath.Join(dest, "ep-1", "manifest.json")); err == nil {
		t.Fatal("manifest present before the restart: the kill came too late to test anything")
	}

	p2 := serve(t, cfg.DataDir, cfg.DatabaseURL)
	c2 := client.New(p2.url, token)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := c2.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == domain.StatusDelivered {
			break
		}
		if d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("not delivered after restart: %+v\n%s", d, p2.log.String())
		}
	}
	// The last spans are written within half a second of ending.
	var tr telemetry.Trace
	for deadline := time.Now().Add(30 * time.Second); len(named(tr, "finish")) == 0; time.Sleep(100 * time.Millisecond) {
		tr = telemetry.Trace{} // a fresh value: Unmarshal would keep fields the answer omits
		if err := json.Unmarshal([]byte(cli(t, p2.url, "trace", "--json", id)), &tr); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finish span:\n%s", cli(t, p2.url, "trace", id))
		}
	}
	waterfall := cli(t, p2.url, "trace", id)
	t.Log("\n" + waterfall)

	byID := map[string]telemetry.TraceSpan{}
	processes := map[string]bool{}
	for _, sp := range tr.Spans {
		byID[sp.SpanID] = sp
		processes[sp.Process] = true
		if sp.TraceID != tr.TraceID {
			t.Errorf("span %s in trace %s, not %s", sp.Name, sp.TraceID, tr.TraceID)
		}
	}
	if len(processes) != 2 {
		t.Errorf("spans from %d processes, want 2 (%v)", len(processes), processes)
	}
	transfers := named(tr, "transfer")
	if len(transfers) != 2 || !transfers[0].Unfinished || transfers[1].Unfinished || transfers[0].Process == transfers[1].Process {
		t.Fatalf("want the cut transfer (unfinished) and the resumed one, from two processes:\n%s", waterfall)
	}
	if a := spanAttrs(transfers[1]); a["attempt"] != float64(2) {
		t.Errorf("resumed transfer: attempt %v, want 2", a["attempt"])
	}
	decide := named(tr, "decide")
	req := named(tr, "POST /v1/notifications")
	if len(decide) != 1 || len(req) != 1 || decide[0].ParentID != req[0].SpanID {
		t.Fatalf("the request and its decision:\n%s", waterfall)
	}
	for _, step := range []string{"start", "package", "transfer", "finish"} {
		for _, sp := range named(tr, step) {
			if sp.ParentID != decide[0].SpanID {
				t.Errorf("%s (%s) is not a child of the delivery's decision", step, sp.Process)
			}
		}
	}
	resumedOps := 0
	for _, sp := range tr.Spans {
		if !strings.HasPrefix(sp.Name, "transport.") {
			continue
		}
		parent, ok := byID[sp.ParentID]
		if !ok || parent.Name != "transfer" || parent.Process != sp.Process {
			t.Errorf("%s has no transfer parent from its own process", sp.Name)
		}
		if parent.SpanID == transfers[1].SpanID {
			resumedOps++
		}
	}
	if resumedOps == 0 || len(named(tr, "transport.committed")) == 0 {
		t.Errorf("no transport spans under the resumed transfer:\n%s", waterfall)
	}
	for _, want := range []string{tr.TraceID, "POST /v1/notifications", "UNFINISHED", "attempt=2", "finish"} {
		if !strings.Contains(waterfall, want) {
			t.Errorf("the waterfall lacks %q", want)
		}
	}
}

func named(tr telemetry.Trace, name string) []telemetry.TraceSpan {
	var out []telemetry.TraceSpan
	for _, sp := range tr.Spans {
		if sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

func spanAttrs(sp telemetry.TraceSpan) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(sp.Attributes, &m)
	return m
}
