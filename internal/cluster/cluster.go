// Package cluster lets many Syndicate processes share one PostgreSQL
// database: each process heartbeats, and a live worker takes over the
// unfinished deliveries of a worker that stopped heartbeating (the open
// edition of DBOS only recovers a process's own workflows when it restarts
// with the same executor id). Each taken-over delivery resumes from its
// last completed step, and its transfer from what the partner holds.
package cluster

import (
	"context"
	"log/slog"
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
}

// Run heartbeats, and on workers takes over dead workers, until ctx ends.
func (m *Member) Run(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 5 * time.Second
	}
	if m.DeadAfter <= 0 {
		m.DeadAfter = 30 * time.Second
	}
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
	if err := m.Store.Heartbeat(ctx, m.ExecutorID, m.Role, started); err != nil {
		if ctx.Err() == nil {
			m.Log.Warn("heartbeat", "error", err)
		}
		return
	}
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
