package main_test

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestBenchDeliveries runs `syndicate bench deliveries` small: real
// worker and api processes on a fresh PostgreSQL database, which it drops.
func TestBenchDeliveries(t *testing.T) {
	admin := storetest.Postgres(t).DatabaseURL // a database of the test's own to connect through
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	benchDBs := func() (n int) {
		conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname LIKE 'syndicate_bench_%'`).Scan(&n)
		return n
	}
	before := benchDBs()
	out := cli(t, "", "bench", "deliveries", "--workers", "1,2", "--deliveries", "6", "--partners", "2", "--size", "4KiB",
		"--postgres", admin)
	for _, w := range []string{"1", "2"} {
		re := regexp.MustCompile(`(?m)^workers=` + w + ` deliveries=6 failed=0 wall=\S+ rate=[0-9.]+/s p50=\S+ p99=\S+$`)
		if !re.MatchString(out) {
			t.Fatalf("no line for %s workers in:\n%s", w, out)
		}
	}
	if after := benchDBs(); after > before {
		t.Fatalf("the bench left %d databases behind", after-before)
	}
}

// TestBenchPipelineSIGKILL runs `syndicate bench pipeline` with its server
// as a child process and SIGKILLs it in the middle of the run; the
// restarted server on the same data folder must finish every delivery,
// each exactly once at its partner. The bench checks that itself (a
// manifest per asset × partner, every file's size and sha256, no stray
// file, no second copy) and exits non-zero otherwise.
func TestBenchPipelineSIGKILL(t *testing.T) {
	requireFull(t)
	cmd := exec.Command(binary, "bench", "pipeline", "--process", "--kill-after", "120", "--assets", "100", "--partners", "4",
		"--size", "16KiB", "--clients", "8", "--timeout", "8m", "--tmp", t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench pipeline: %v\n%s\n%s", err, out.String(), lastLines(errb.String(), 20))
	}
	line := regexp.MustCompile(`(?m)^pipeline: [\d.]+ deliveries/s end to end \(400 of 400 delivered, failed 0\), notify p99 \d+ ms, max stall \d+ ms, lost 0$`)
	if !line.MatchString(out.String()) {
		t.Fatalf("output:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "SIGKILLed the server") {
		t.Fatalf("the server was not killed:\n%s", lastLines(errb.String(), 20))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
