package main_test

import (
	"context"
	"regexp"
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
