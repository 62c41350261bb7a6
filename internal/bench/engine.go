package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// EngineSteps is the number of steps the Deliver workflow checkpoints for
// a plain small delivery (no images, subtitles, video or pacing): start
// (which packs it) and transfer (which finishes it), see
// internal/workflow/deliver.go.
const EngineSteps = 2

// engineBatch is how many workflows one transaction enqueues, as the
// decider enqueues a batch of decisions in one transaction.
const engineBatch = 100

// EngineConfig is one run of the engine anchor.
type EngineConfig struct {
	// Workflows are enqueued, partitioned over Partners partition keys.
	Workflows, Partners int
	// DatabaseURL is a PostgreSQL admin URL (a fresh database is created
	// and dropped); empty: a fresh SQLite file in TempDir.
	DatabaseURL string
	TempDir     string
	Timeout     time.Duration
}

// Engine is the pipeline's anchor: DBOS alone on a fresh database opened
// exactly as the server opens its own (store.Open: same driver, DSN,
// pool and PRAGMAs, the engine sharing the application's handle), running
// Workflows workflows of EngineSteps empty steps from a queue set up like
// the delivery queue of a partner with concurrency 8 (workflow.DefaultConcurrency
// per process, 8 per partition, workflow.QueuePolling, partitioned by partner), enqueued in
// transactions of 100. It returns workflows per second from the first
// enqueue to the last workflow's return.
func Engine(ctx context.Context, cfg EngineConfig) (float64, error) {
	if cfg.Workflows <= 0 {
		return 0, fmt.Errorf("engine: %d workflows", cfg.Workflows)
	}
	cfg.Partners = max(cfg.Partners, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dbURL := cfg.DatabaseURL
	if dbURL != "" {
		fresh, drop, err := freshPostgres(ctx, dbURL)
		if err != nil {
			return 0, err
		}
		defer drop()
		dbURL = fresh
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "engine-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, store.Config{DataDir: filepath.Join(dir, "data"), DatabaseURL: dbURL})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	dcfg := dbos.Config{AppName: "syndicate-bench", ExecutorID: "bench-engine", ApplicationVersion: "bench-v1",
		Logger: slog.New(slog.DiscardHandler)}
	if st.Dialect == store.Postgres {
		dcfg.SystemDBPool = st.Pool
	} else {
		dcfg.SQLiteSystemDB = st.DB
	}
	dctx, err := dbos.NewContext(context.WithoutCancel(ctx), dcfg)
	if err != nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	var finished atomic.Int64
	all := make(chan struct{})
	want := int64(cfg.Workflows)
	empty := func(context.Context) (int, error) { return 0, nil }
	wf := func(c dbos.Context, _ int) (int, error) {
		for s := range EngineSteps {
			if _, err := dbos.RunAsStep(c, empty, dbos.WithStepName(fmt.Sprintf("step%d", s))); err != nil {
				return 0, err
			}
		}
		if finished.Add(1) == want {
			close(all)
		}
		return 0, nil
	}
	dbos.RegisterWorkflow(dctx, wf, dbos.WithWorkflowName("empty"))
	const queue = "bench-engine"
	if _, err := dbos.RegisterQueue(dctx, queue, dbos.WithWorkerConcurrency(workflow.DefaultConcurrency), dbos.WithPartitionConcurrency(8),
		dbos.WithQueueBasePollingInterval(workflow.QueuePolling), dbos.WithQueueOnConflict(dbos.QueueConflictAlwaysUpdate)); err != nil {
		return 0, fmt.Errorf("engine: queue: %w", err)
	}
	if err := dbos.Launch(dctx); err != nil {
		return 0, fmt.Errorf("engine: launch: %w", err)
	}
	defer dbos.Shutdown(dctx, 10*time.Second)
	start := time.Now()
	for first := 0; first < cfg.Workflows; first += engineBatch {
		if err := enqueueEmpty(ctx, st, dctx, queue, first, min(first+engineBatch, cfg.Workflows), cfg.Partners); err != nil {
			return 0, err
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		return 0, fmt.Errorf("engine: %d of %d workflows finished: %w", finished.Load(), cfg.Workflows, ctx.Err())
	}
	return float64(cfg.Workflows) / time.Since(start).Seconds(), nil
}

func enqueueEmpty(ctx context.Context, st *store.Store, c dbos.Client, queue string, from, to, partners int) error {
	tx, err := st.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("engine: enqueue: %w", err)
	}
	defer tx.Rollback()
	for i := from; i < to; i++ {
		if _, err := dbos.Enqueue[int](c, queue, "empty", i, dbos.WithEnqueueWorkflowID(fmt.Sprintf("empty-%d", i)),
			dbos.WithEnqueueQueuePartitionKey(partnerID(i%partners)), dbos.WithEnqueueApplicationVersion("bench-v1"),
			dbos.WithEnqueueTransaction(tx)); err != nil {
			return fmt.Errorf("engine: enqueue: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("engine: enqueue: %w", err)
	}
	return nil
}
