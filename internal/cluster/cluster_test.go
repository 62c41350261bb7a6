package cluster

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestLease: a member holds its lease only while its heartbeats reach
// the database, and loses it at half of DeadAfter without one.
func TestLease(t *testing.T) {
	st := storetest.Open(t, storetest.SQLite(t))
	m := &Member{Store: st, ExecutorID: "w1", Role: "worker", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine: noEngine{}, DeadAfter: 10 * time.Second}
	if err := m.Held(); err == nil || !strings.Contains(err.Error(), "no heartbeat has reached the database yet") {
		t.Fatalf("before any heartbeat: %v", err)
	}
	m.tick(context.Background(), st.Now())
	if err := m.Held(); err != nil {
		t.Fatalf("after a heartbeat: %v", err)
	}
	m.mu.Lock()
	m.lastBeat = time.Now().Add(-6 * time.Second) // more than half of DeadAfter ago
	m.mu.Unlock()
	if err := m.Held(); err == nil || !strings.Contains(err.Error(), "no heartbeat has reached the database for 6") {
		t.Fatalf("after 6s of silence: %v", err)
	}
	st.Close() // the database is gone: a heartbeat fails and does not renew the lease
	m.tick(context.Background(), st.Now())
	if err := m.Held(); err == nil {
		t.Fatal("a failed heartbeat renewed the lease")
	}
}

type noEngine struct{}

func (noEngine) Executes() bool                         { return false }
func (noEngine) RecoverExecutors([]string) (int, error) { return 0, nil }
