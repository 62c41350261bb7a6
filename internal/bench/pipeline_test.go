package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var pipelineLine = regexp.MustCompile(`^pipeline: [\d.]+ deliveries/s end to end \((\d+) of (\d+) delivered, failed (\d+)\), notify p99 \d+ ms, max stall \d+ ms, lost (\d+)\n` +
	`engine: [\d.]+ workflows/s \(pipeline/engine [\d.]+\)\n$`)

// TestPipelineDeliversEverything runs the whole bench with tiny numbers on
// SQLite: both lines have the promised form, every delivery is at its
// partner and nothing acknowledged is lost. No speed is asserted.
func TestPipelineDeliversEverything(t *testing.T) {
	var out bytes.Buffer
	res, err := Pipeline(context.Background(), PipelineConfig{Assets: 10, Partners: 2, Size: 1024, Batch: 3, Clients: 2,
		Timeout: 5 * time.Minute, TempDir: t.TempDir(), Out: &out})
	if errors.Is(err, ErrRequestsFailed) && res.Lost == 0 && res.Duplicates == 0 {
		// The server's own failure under concurrent writers (issue 14),
		// not the bench's: the bench reported it, which is its job here.
		t.Logf("the server answered errors: %v", err)
	} else if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	m := pipelineLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output %q", out.String())
	}
	if m[1] != "20" || m[2] != "20" || m[3] != "0" || m[4] != "0" {
		t.Fatalf("output %q", out.String())
	}
	if res.Delivered != 20 || res.Lost != 0 || res.Duplicates != 0 || res.Acked < 10 || res.EngineRate <= 0 {
		t.Fatalf("%+v", res)
	}
}

// TestPipelineCountsWhatIsMissing checks the partner check itself: a
// delivery folder removed, one file changed and a stray file each count.
func TestPipelineCountsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	sums := []string{"", ""}
	mk := func(partner, delivery, asset string, content []byte) string {
		d := filepath.Join(dir, partner, delivery)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		sum, _, _ := sha256Bytes(content)
		if err := os.WriteFile(filepath.Join(d, "main.mp4"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		man := `{"delivery_id":"` + delivery + `","asset_id":"` + asset + `","partner_id":"` + partner +
			`","action":"create","files":[{"name":"main.mp4","role":"main","size":` + itoa(len(content)) + `,"sha256":"` + sum + `"}]}`
		if err := os.WriteFile(filepath.Join(d, "manifest.json"), []byte(man), 0o644); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	sums[0] = mk("bench-1", "d1", assetID(0), []byte("zero"))
	sums[1] = mk("bench-1", "d2", assetID(1), []byte("one"))
	if got := mk("bench-1", "d3", assetID(1), []byte("one")); got != sums[1] {
		t.Fatal("sha256")
	}
	mk("bench-2", "d4", assetID(0), []byte("zero"))
	if err := os.WriteFile(filepath.Join(dir, "bench-2", "d4", "main.mp4.partial"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mk("bench-2", "d5", assetID(1), []byte("ONE")) // not the source's bytes
	db, err := openProbe("", filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE syn_deliveries (asset_id TEXT, partner_id TEXT, status TEXT)`); err != nil {
		t.Fatal(err)
	}
	pc, err := checkPartners(context.Background(), db, dir, PipelineConfig{Assets: 2, Partners: 2}, sums, false)
	if err != nil {
		t.Fatal(err)
	}
	if pc.missing != 2 || pc.duplicates != 1 || len(pc.problems) != 5 {
		t.Fatalf("%+v", pc)
	}
}

func sha256Bytes(b []byte) (string, int64, error) {
	p := filepath.Join(os.TempDir(), "syndicate-bench-sha-"+randomHex(6))
	defer os.Remove(p)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return "", 0, err
	}
	return sha256File(p)
}

func itoa(n int) string { return strconv.Itoa(n) }
