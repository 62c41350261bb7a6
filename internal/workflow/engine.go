// Package workflow runs deliveries as durable workflows on DBOS Transact,
// in the same database as the application's state. A delivery's workflow
// is enqueued in the transaction that records the delivery, so neither
// exists without the other; after a crash, DBOS resumes each workflow from
// its last completed step.
package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	_ "github.com/dbos-inc/dbos-transact-golang/dbos/driver/sqlite" // DBOS on SQLite

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/workfiles"
)

const (
	// QueueName is the queue all deliveries wait on, partitioned by partner.
	QueueName = "deliveries"
	// workflowName is the registered name of the Deliver workflow.
	workflowName = "deliver"
	// appVersion tags every workflow so that a rebuilt binary still
	// recovers the workflows an older build left behind. Bump it only when
	// the Deliver workflow's sequence of steps changes incompatibly.
	appVersion = "deliver-v1"
)

// Config tunes the engine.
type Config struct {
	// WorkDir holds each delivery's rendered files (work/<delivery-id>/).
	WorkDir string
	// ExecutorID names this process to the engine; a restarted process
	// with the same ID recovers the workflows it left unfinished.
	ExecutorID string
	// Concurrency is how many deliveries of each partner concurrency level
	// this process runs at once (default DefaultConcurrency); partners'
	// own limits hold below it.
	Concurrency int
	// Logger receives delivery logs; DBOS's own logs go to it at warn level.
	Logger *slog.Logger
	// Policy limits the destination hosts transfers may reach.
	Policy *transport.Policy
	// APIOnly starts no workers: the process enqueues, cancels and
	// reprioritizes deliveries, and other processes run them (role api).
	APIOnly bool
	// Telemetry traces and times each step (nil: neither).
	Telemetry *telemetry.Telemetry
	// Transcoder is the external transcoding service, if any.
	Transcoder TranscoderConfig
	// Redecider decides again when a scheduled rights window edge
	// arrives (see Schedule); nil refuses those wake-ups.
	Redecider Redecider
	// Blob, if set, keeps a copy of each delivery's working files, so a
	// process taking a delivery over fetches them rather than render or
	// transcode again.
	Blob *workfiles.Store
	// Lease, if set, stops transfers while this process's heartbeats do
	// not reach the database (see fence.go).
	Lease Lease
}

// DefaultConcurrency is how many deliveries of one partner concurrency
// level a process runs at once. DBOS starts queued workflows only when it
// polls the queue, so a slot freed by a finished delivery waits for the
// next poll: with small deliveries the process's throughput is about
// slots per poll interval, and 8 slots polled every 100 ms capped it at
// 80 deliveries/s (docs/benchmarks.md). Partners' own concurrency (1-8,
// across processes) is what limits the load on a partner.
const DefaultConcurrency = 32

// QueuePolling is the delivery queues' base polling interval. A poll of
// a queue with nothing queued is one read of its partitions; only a queue
// with work takes the write lock to claim it.
const QueuePolling = 50 * time.Millisecond

// Engine starts and runs delivery workflows.
type Engine struct {
	// client enqueues and cancels; it is ctx itself unless APIOnly.
	client dbos.Client
	// ctx runs workflows; nil in an API-only process.
	ctx       dbos.Context
	steps     *steps
	log       *slog.Logger
	redecider Redecider
}

// New registers the workflows and queue on the store's database and
// launches the engine, which recovers this executor's unfinished workflows.
func New(ctx context.Context, st *store.Store, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ExecutorID == "" {
		cfg.ExecutorID = "local"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	dcfg := dbos.Config{
		AppName:            "syndicate",
		ExecutorID:         cfg.ExecutorID,
		ApplicationVersion: appVersion,
		Logger:             slog.New(levelHandler{slog.LevelWarn, cfg.Logger.Handler()}),
	}
	if st.Dialect == store.Postgres {
		dcfg.SystemDBPool = st.Pool
	} else {
		dcfg.SQLiteSystemDB = st.DB
	}
	steps := &steps{store: st, workDir: cfg.WorkDir, log: cfg.Logger, policy: cfg.Policy, telemetry: cfg.Telemetry,
		transcoder: cfg.Transcoder, blob: cfg.Blob, executorID: cfg.ExecutorID, lease: cfg.Lease}
	if cfg.APIOnly {
		return newClient(ctx, dcfg, steps, cfg.Logger)
	}
	// The engine outlives ctx: cancelling its root context would durably
	// cancel every running workflow. Shutdown stops it and leaves them
	// pending, to resume at the next start.
	dctx, err := dbos.NewContext(context.WithoutCancel(ctx), dcfg)
	if err != nil {
		return nil, fmt.Errorf("workflow: engine: %w", err)
	}
	e := &Engine{client: dctx, ctx: dctx, log: cfg.Logger, steps: steps, redecider: cfg.Redecider}
	if e.redecider == nil {
		e.redecider = noRedecider{}
	}
	dbos.RegisterWorkflow(dctx, e.deliver, dbos.WithWorkflowName(workflowName))
	// Rights-window wake-ups share appVersion: a process runs only the
	// workflows of its own version. A build without this workflow does not
	// poll RightsQueue, so it never dequeues one.
	dbos.RegisterWorkflow(dctx, e.rights, dbos.WithWorkflowName(rightsWorkflowName))
	if _, err := dbos.RegisterQueue(dctx, RightsQueue, dbos.WithQueueBasePollingInterval(500*time.Millisecond),
		dbos.WithQueueOnConflict(dbos.QueueConflictAlwaysUpdate)); err != nil {
		return nil, fmt.Errorf("workflow: queue: %w", err)
	}
	// One queue per partner concurrency level, partitioned by partner: a
	// partner's limit holds across every process on the database.
	for level := 1; level <= domain.MaxConcurrency; level++ {
		if _, err := dbos.RegisterQueue(dctx, QueueFor(level),
			dbos.WithWorkerConcurrency(cfg.Concurrency),
			dbos.WithPartitionConcurrency(level),
			dbos.WithQueueBasePollingInterval(QueuePolling),
			dbos.WithQueueOnConflict(dbos.QueueConflictAlwaysUpdate),
		); err != nil {
			return nil, fmt.Errorf("workflow: queue: %w", err)
		}
	}
	if err := dbos.Launch(dctx); err != nil {
		return nil, fmt.Errorf("workflow: launch: %w", err)
	}
	return e, nil
}

// Enqueue starts the delivery's workflow inside tx: it runs only if tx
// commits. The workflow ID is derived from the delivery ID and run, so
// enqueueing the same delivery twice cannot start two workflows. The
// delivery's Priority orders the queue (lower first).
func (e *Engine) Enqueue(ctx context.Context, tx *sql.Tx, d domain.Delivery) error {
	v, err := e.steps.store.GetPartnerVersionTx(ctx, tx, d.PartnerID, d.PartnerVersion)
	if err != nil {
		return fmt.Errorf("workflow: enqueue delivery %s: %w", d.ID, err)
	}
	_, err = dbos.Enqueue[Result](e.client, QueueFor(v.Partner.Concurrency), workflowName, d.ID,
		dbos.WithEnqueueWorkflowID(WorkflowID(d.ID, d.Run)),
		dbos.WithEnqueueQueuePartitionKey(d.PartnerID),
		dbos.WithEnqueuePriority(uint(max(d.Priority, 0))),
		dbos.WithEnqueueApplicationVersion(appVersion),
		dbos.WithEnqueueTransaction(tx))
	if err != nil {
		return fmt.Errorf("workflow: enqueue delivery %s: %w", d.ID, err)
	}
	return nil
}

// QueueFor names the queue of partners whose concurrency is level: the
// default level 2 keeps the plain name.
func QueueFor(level int) string {
	if level == 2 || level < 1 || level > domain.MaxConcurrency {
		return QueueName
	}
	return fmt.Sprintf("%s-c%d", QueueName, level)
}

// WorkflowID is the workflow that carries a delivery's run (0 for the
// first; each operator retry is a new run).
func WorkflowID(deliveryID string, run int) string {
	if run == 0 {
		return "delivery-" + deliveryID
	}
	return fmt.Sprintf("delivery-%s-r%d", deliveryID, run)
}

// Shutdown stops taking work and waits up to timeout for running steps.
// Unfinished workflows resume at the next start.
func (e *Engine) Shutdown(timeout time.Duration) error {
	return dbos.Shutdown(e.client, timeout)
}

// newClient starts an engine that only enqueues (role api). A client does
// not migrate the engine's schema, so a worker must have started once.
func newClient(ctx context.Context, dcfg dbos.Config, st *steps, log *slog.Logger) (*Engine, error) {
	c, err := dbos.NewClient(context.WithoutCancel(ctx), dbos.ClientConfig{AppName: dcfg.AppName, SystemDBPool: dcfg.SystemDBPool,
		SQLiteSystemDB: dcfg.SQLiteSystemDB, Logger: dcfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("workflow: engine client (has a worker process started on this database yet?): %w", err)
	}
	return &Engine{client: c, log: log, steps: st}, nil
}

// Executes reports whether this engine runs workflows.
func (e *Engine) Executes() bool { return e.ctx != nil }

// RecoverExecutors has this process take over the unfinished workflows of
// other executors (dead processes); each resumes from its last completed
// step. It returns how many it took.
func (e *Engine) RecoverExecutors(ids []string) (int, error) {
	r, ok := e.ctx.(interface {
		RecoverPendingWorkflows([]string) ([]dbos.WorkflowHandle[any], error)
	})
	if !ok {
		return 0, errors.New("workflow: this engine cannot recover other executors' workflows")
	}
	hs, err := r.RecoverPendingWorkflows(ids)
	return len(hs), err
}

// levelHandler drops records below a minimum level, to keep the engine's
// chatter out of delivery logs.
type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{h.min, h.Handler.WithAttrs(a)}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h.min, h.Handler.WithGroup(n)}
}
