package event_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// syncBuffer is a log sink two goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestOneDispatcherOnPostgres: two processes' dispatchers on one
// PostgreSQL database; only the lock holder sends (every event arrives
// once), and when it stops the other takes over.
func TestOneDispatcherOnPostgres(t *testing.T) {
	cfg := storetest.Postgres(t)
	s1, s2 := storetest.Open(t, cfg), storetest.Open(t, cfg)
	r := newReceiver(t)
	k := addSink(t, s1, store.Sink{Target: r.srv.URL})
	stop1 := dispatch(t, s1)
	lifecycle(t, s1, "d1", "p1")
	waitFor(t, "the first dispatcher to send", func() bool { return len(r.taken()) == 4 })

	var log2 syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d2 := &event.Dispatcher{Store: s2, Log: slog.New(slog.NewTextHandler(&log2, nil)), Interval: 10 * time.Millisecond,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	go func() { defer close(done); d2.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	lifecycle(t, s2, "d2", "p2")
	lifecycle(t, s1, "d3", "p1")
	waitFor(t, "12 events", func() bool { return len(r.taken()) >= 12 })
	waitFor(t, "the cursor at the head", func() bool { return getSink(t, s1, k.ID).Cursor == 12 })
	if strings.Contains(log2.String(), "holds the dispatch lock") {
		t.Fatalf("the second dispatcher took the lock while the first held it:\n%s", log2.String())
	}

	stop1()
	waitFor(t, "the second dispatcher to take over", func() bool { return strings.Contains(log2.String(), "holds the dispatch lock") })
	lifecycle(t, s2, "d4", "p2")
	waitFor(t, "16 events", func() bool { return len(r.taken()) >= 16 })
	waitFor(t, "the cursor at the head", func() bool { return getSink(t, s2, k.ID).Cursor == 16 })
	got, want := r.taken(), outbox(t, s2)
	if len(got) != len(want) {
		t.Fatalf("receiver took %d events for %d published: some were sent twice", len(got), len(want))
	}
	for i := range want {
		if got[i].Event.ID != want[i].ID {
			t.Fatalf("event %d = %s, want %s", i, got[i].Event.ID, want[i].ID)
		}
	}
}
