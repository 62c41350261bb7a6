// Package cluster lets many Syndicate processes share one PostgreSQL
// database: each process heartbeats, and a live worker takes over the
// unfinished deliveries of a worker that stopped heartbeating (the open
// edition of DBOS only recovers a process's own workflows when it restarts
// with the same executor id). Each taken-over delivery resumes from its
// last completed step, and its transfer from what the partner holds.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

// Recoverer runs other executors' unfinished workflows in this process.
type Recoverer interface {
	Executes() bool
	RecoverExecutors(ids []string) (int, error)
}

// Member is this process in the cluster.
type Member struct {
	Store      *store.Store
	Engine     Recoverer
	ExecutorID string
	Role       string
	Log        *slog.Logger
	// Interval between heartbeats (default 5s); DeadAfter is the silence
	// after which a worker is taken over (default 30s).
	Interval, DeadAfter time.Duration

	mu       sync.Mutex
	lastBeat time.Time // of the last heartbeat the database took (monotonic)
}

// Held reports whether this process may still act as the owner of its
// deliveries: its last heartbeat reached the database less than half of
// DeadAfter ago. Past that, a live worker may soon take its deliveries
// over, so it stops sending (self-fencing) until a heartbeat gets
// through again — half the margin, so it stops well before the takeover.
func (m *Member) Held() error {
	m.mu.Lock()
	last := m.lastBeat
	m.mu.Unlock()
	if last.IsZero() {
		return fmt.Errorf("cluster: no heartbeat has reached the database yet")
	}
	if age := time.Since(last); age >= m.deadAfter()/2 {
		return fmt.Errorf("cluster: no heartbeat has reached the database for %s", age.Round(time.Millisecond))
	}
	return nil
}

func (m *Member) deadAfter() time.Duration {
	if m.DeadAfter <= 0 {
		return 30 * time.Second
	}
	return m.DeadAfter
}

// Run heartbeats, and on workers takes over dead workers, until ctx ends.
func (m *Member) Run(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 5 * time.Second
	}
	m.DeadAfter = m.deadAfter()
	started := m.Store.Now()
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		m.tick(ctx, started)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Member) tick(ctx context.Context, started time.Time) {
	sent := time.Now()
	if err := m.Store.Heartbeat(ctx, m.ExecutorID, m.Role, started); err != nil {
		if ctx.Err() == nil {
			m.Log.Warn("heartbeat", "error", err)
		}
		return
	}
	m.mu.Lock()
	m.lastBeat = sent // the heartbeat's time is when it was sent, not when it was answered
	m.mu.Unlock()
	if !m.Engine.Executes() {
		return
	}
	n := 0
	dead, err := m.Store.TakeOverDead(ctx, m.ExecutorID, m.Store.Now().Add(-m.DeadAfter), func(ids []string) error {
		var err error
		n, err = m.Engine.RecoverExecutors(ids)
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		m.Log.Warn("takeover", "error", err)
	case len(dead) > 0:
		m.Log.Warn("took over dead executors", "executors", dead, "workflows", n)
	}
}
