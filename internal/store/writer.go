package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds how many writes share one SQLite transaction.
const maxGroup = 128

// errClosed answers a write asked for after Close.
var errClosed = errors.New("store: closed")

// groupWriter is the SQLite process's one writer: a goroutine that runs
// every InTx and exec of the store, and commits the writes waiting at the
// same moment in one transaction, each inside a savepoint of its own.
//
// SQLite takes one writer at a time, so writes queue anyway; what the
// queue costs is the hand-over. Through a mutex or a one-connection pool
// each write is handed to its goroutine, which must be scheduled before it
// can run: on two busy cores that is most of a write's time, and the
// connection sat "in use" 100 % at 75 deliveries/s while the CPU was half
// idle (docs/benchmarks.md). Here the writer stays running and the writes
// come to it; a caller is answered once its write is committed, or with
// its own error (its savepoint is rolled back and the others commit).
type groupWriter struct {
	db      *sql.DB
	prepare func(ctx context.Context)
	reqs    chan *writeReq // unbuffered: a send succeeds only while run is taking
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type writeReq struct {
	ctx    context.Context
	fn     func(ctx context.Context, tx *sql.Tx) error
	result chan error
}

func newGroupWriter(db *sql.DB, prepare func(context.Context)) *groupWriter {
	w := &groupWriter{db: db, prepare: prepare, reqs: make(chan *writeReq), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// write runs fn in the writer's next transaction and returns once that
// transaction committed (nil) or fn or the commit failed. It waits even
// when ctx ends: fn's statements then fail at once, and the caller never
// answers before knowing whether its write is stored.
func (w *groupWriter) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, result: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-w.stop:
		return errClosed
	}
	return <-r.result
}

// close stops the writer after the transaction under way.
func (w *groupWriter) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *groupWriter) run() {
	defer close(w.done)
	for {
		var first *writeReq
		select {
		case first = <-w.reqs:
		case <-w.stop:
			return
		}
		batch := []*writeReq{first}
	gather:
		for len(batch) < maxGroup {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		w.commit(batch)
	}
}

// commit runs one transaction for batch. A lone write runs as it is;
// several run in savepoints, so one that fails leaves the others.
func (w *groupWriter) commit(batch []*writeReq) {
	bg := context.Background()
	w.prepare(bg)
	// The transaction outlives any one caller's context: database/sql
	// rolls back a transaction whose context ends.
	tx, err := w.db.BeginTx(bg, nil)
	if err != nil {
		for _, r := range batch {
			r.result <- fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	if len(batch) == 1 {
		r := batch[0]
		if err := r.fn(marked(r.ctx), tx); err != nil {
			_ = tx.Rollback()
			r.result <- err
			return
		}
		r.result <- wrapCommit(tx.Commit())
		return
	}
	var kept []*writeReq
	for i, r := range batch {
		if _, err := tx.ExecContext(bg, `SAVEPOINT w`); err != nil {
			w.abort(tx, append(kept, batch[i:]...), err)
			return
		}
		if ferr := r.fn(marked(r.ctx), tx); ferr != nil {
			_, err := tx.ExecContext(bg, `ROLLBACK TO w`)
			r.result <- ferr
			if err != nil { // the transaction's state is unknown: none of it commits
				w.abort(tx, append(kept, batch[i+1:]...), err)
				return
			}
		} else {
			kept = append(kept, r)
		}
		if _, err := tx.ExecContext(bg, `RELEASE w`); err != nil {
			w.abort(tx, append(kept, batch[i+1:]...), err)
			return
		}
	}
	err = wrapCommit(tx.Commit())
	for _, r := range kept {
		r.result <- err
	}
}

// abort rolls the transaction back and fails the writes it held.
func (w *groupWriter) abort(tx *sql.Tx, held []*writeReq, cause error) {
	_ = tx.Rollback()
	for _, r := range held {
		r.result <- fmt.Errorf("store: write group rolled back: %w", cause)
	}
}

func wrapCommit(err error) error {
	if err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// marked is ctx as fn sees it inside the transaction (see InTx).
func marked(ctx context.Context) context.Context { return context.WithValue(ctx, txMark{}, true) }
