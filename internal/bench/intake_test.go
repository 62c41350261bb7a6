package bench

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	_ "github.com/syndicate-media/syndicate/internal/format/json" // the bench partner's format (file:// is linked by bench_test.go); not internal/all: TestTransferUnknownTransport needs s3 absent
)

// TestIntakeCountsEveryNotification runs a small bench against the real
// server, single and batched: every acknowledged notification is found in
// the database and the one line has the promised form. No speed is
// asserted.
func TestIntakeCountsEveryNotification(t *testing.T) {
	line := regexp.MustCompile(`^intake \(acceptance only, decider may lag\): \d+ notifications/s( \(batches of \d+\))?, p50 [\d.]+ ms, p99 [\d.]+ ms, lost 0; bare net/http \d+ requests/s \(p50 [\d.]+ ms\), intake/bare [\d.]+\n$`)
	for _, batch := range []int{0, 7} {
		var out bytes.Buffer
		res, err := Intake(context.Background(), IntakeConfig{Count: 300, Clients: 4, Batch: batch, TempDir: t.TempDir(), Out: &out})
		if err != nil {
			t.Fatal(err)
		}
		if res.Acked != 300 || res.Lost != 0 || res.Notifications != 300 {
			t.Fatalf("batch %d: %+v", batch, res)
		}
		if !line.Match(out.Bytes()) {
			t.Fatalf("batch %d: output %q", batch, out.String())
		}
	}
}
