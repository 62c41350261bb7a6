package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Fencing keeps a worker that lost the database (a network partition, a
// pause) from sending a package another worker has taken over. DBOS
// already refuses such a worker's checkpoints; these checks stop its side
// effects at the partner:
//   - the lease: while this process's heartbeats do not reach the
//     database, a running transfer is stopped (well before anyone may take
//     it over) and waits;
//   - ownership: before sending, the workflow must still be PENDING on
//     this executor in the database, and this run of it the newest in this
//     process (a process that came back may have dequeued its old workflow
//     again while the old run was still backing off).

// Lease says whether this process may act as the owner of its
// deliveries; cluster.Member implements it.
type Lease interface {
	Held() error
}

// errFenced: another process (or a newer run here) owns the workflow now.
// The run stops without recording anything.
var errFenced = errors.New("this delivery was taken over by another process")

// errLeaseLost: the transfer stopped because this process lost touch with
// the database. Retried: the next attempt waits until ownership is clear.
var errLeaseLost = errors.New("lost touch with the database; the transfer stopped and will continue once it is back")

// runs numbers the executions of each workflow in this process.
type runs struct {
	mu  sync.Mutex
	gen map[string]uint64
	n   uint64
}

// claim records a new execution of workflow id and returns its number.
func (r *runs) claim(id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == nil {
		r.gen = map[string]uint64{}
	}
	r.n++
	r.gen[id] = r.n
	return r.n
}

// release forgets execution g of workflow id, unless a newer one exists.
func (r *runs) release(id string, g uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen[id] == g {
		delete(r.gen, id)
	}
}

func (r *runs) current(id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen[id]
}

// owns checks that execution gen of workflow wfID may act: errFenced if
// not, another error if the database cannot say. Only PostgreSQL is
// shared between processes; on SQLite one process owns everything.
func (s *steps) owns(ctx context.Context, wfID string, gen uint64) error {
	if gen != 0 && s.runs.current(wfID) != gen {
		return errFenced
	}
	if s.store.Dialect != store.Postgres || s.executorID == "" {
		return nil
	}
	var status, executor string
	err := s.store.DB.QueryRowContext(ctx, `SELECT status, COALESCE(executor_id, '') FROM dbos.workflow_status WHERE workflow_uuid = $1`, wfID).
		Scan(&status, &executor)
	if errors.Is(err, sql.ErrNoRows) {
		return errFenced
	}
	if err != nil {
		return fmt.Errorf("ownership of %s: %w", wfID, err)
	}
	if status != "PENDING" || executor != s.executorID {
		return errFenced
	}
	return nil
}

// awaitOwnership waits until the database confirms that this execution
// owns the workflow and the lease is held: errFenced if it does not own
// it, ctx's error if ctx ends first. A database that does not answer is
// waited for rather than counted as a failed attempt.
func (s *steps) awaitOwnership(ctx context.Context, wfID string, gen uint64) error {
	for {
		err := s.leaseErr()
		if err == nil {
			err = s.owns(ctx, wfID, gen)
		}
		if err == nil || errors.Is(err, errFenced) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *steps) leaseErr() error {
	if s.lease == nil {
		return nil
	}
	return s.lease.Held()
}

// withLease returns a context cancelled (cause errLeaseLost) when the
// lease lapses, and its stop func.
func (s *steps) withLease(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if s.lease == nil {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.lease.Held(); err != nil {
					s.log.Warn("stopping the transfer: this process lost touch with the database", "error", err)
					cancel(errLeaseLost)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// fencedTransfer is the transfer step behind the fences: it waits until
// this run owns the workflow, and stops the transfer when the lease lapses.
func (s *steps) fencedTransfer(ctx context.Context, j job, prep packaging.Prepared, plan packaging.Plan, wfID string, gen uint64) (Result, error) {
	if err := s.awaitOwnership(ctx, wfID, gen); err != nil {
		return Result{}, err
	}
	id, run := j.Delivery.ID, j.Delivery.Run
	how, err := s.store.CommitVerifications(ctx, id, run)
	if err != nil {
		return Result{}, err
	}
	done := make(map[string]bool, len(how))
	for name := range how {
		done[name] = true
	}
	lctx, stop := s.withLease(ctx)
	defer stop()
	lctx = withGuard(lctx, &commitGuard{
		before: func(c context.Context) error { return s.owns(c, wfID, gen) },
		record: func(c context.Context, name string) error { return s.store.RecordCommit(c, id, run, name) },
		verified: func(c context.Context, name, v string) error {
			return s.store.RecordVerification(c, id, run, name, v)
		},
		forget: func(c context.Context, name string) error { return s.store.ForgetCommit(c, id, run, name) },
		done:   done, how: how, suffix: "." + shortID(id) + ".partial", log: s.log.With("delivery_id", id),
	})
	res, err := s.transfer(lctx, j, prep, plan)
	if err != nil && errors.Is(context.Cause(lctx), errLeaseLost) && ctx.Err() == nil {
		return res, fmt.Errorf("%w (%w)", errLeaseLost, err)
	}
	return res, err
}

// dbStepRetries retries a step whose only side effects are database writes
// through a short outage (a restart, dropped connections).
var dbStepRetries = []dbos.StepOption{dbos.WithStepMaxRetries(5), dbos.WithStepBaseInterval(500 * time.Millisecond),
	dbos.WithStepBackoffFactor(2)}
