package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestGroupedWritesKeepTheirOwnOutcome: writes that queue behind a busy
// writer share a transaction on SQLite; each still gets its own answer,
// and one that fails (its own error, or a statement the database refuses)
// leaves nothing behind while the others in its group are stored. Each
// dialect must give the same answers.
func TestGroupedWritesKeepTheirOwnOutcome(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			s := storetest.Open(t, cfg)
			ctx := context.Background()
			if err := s.RecordCommit(ctx, "taken", 0, "f"); err != nil {
				t.Fatal(err)
			}
			// Hold the writer so that the writes below queue and group.
			hold, held := make(chan struct{}), make(chan struct{})
			go func() {
				_ = s.InTx(ctx, func(context.Context, *sql.Tx) error {
					close(held)
					<-hold
					return nil
				})
			}()
			<-held
			boom := errors.New("boom")
			const n = 60
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("d-%d", i)
					switch i % 3 {
					case 0: // succeeds
						errs[i] = s.RecordCommit(ctx, id, 0, "f")
					case 1: // writes, then fails itself
						errs[i] = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
							if _, err := tx.ExecContext(ctx, q(s, `INSERT INTO syn_delivery_commits (delivery_id, run, name, committed_at) VALUES (?, 0, 'f', 'now')`), id); err != nil {
								return err
							}
							return boom
						})
					case 2: // writes, then a statement fails (duplicate key)
						errs[i] = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
							if _, err := tx.ExecContext(ctx, q(s, `INSERT INTO syn_delivery_commits (delivery_id, run, name, committed_at) VALUES (?, 0, 'f', 'now')`), id); err != nil {
								return err
							}
							_, err := tx.ExecContext(ctx, q(s, `INSERT INTO syn_delivery_commits (delivery_id, run, name, committed_at) VALUES ('taken', 0, 'f', 'now')`))
							return err
						})
					}
				}()
			}
			time.Sleep(200 * time.Millisecond) // let them queue (not a timing assertion: any order passes)
			close(hold)
			wg.Wait()
			for i, err := range errs {
				id := fmt.Sprintf("d-%d", i)
				how, rerr := s.CommitVerifications(ctx, id, 0)
				if rerr != nil {
					t.Fatal(rerr)
				}
				_, stored := how["f"]
				switch i % 3 {
				case 0:
					if err != nil || !stored {
						t.Errorf("%s: err %v, stored %v; want nil, stored", id, err, stored)
					}
				case 1:
					if !errors.Is(err, boom) || stored {
						t.Errorf("%s: err %v, stored %v; want boom, nothing stored", id, err, stored)
					}
				case 2:
					if err == nil || errors.Is(err, boom) || stored {
						t.Errorf("%s: err %v, stored %v; want the database's refusal, nothing stored", id, err, stored)
					}
				}
			}
		})
	}
}

// TestWriteAfterCloseFails: a write asked for after Close is refused at
// once instead of waiting for a writer that is gone.
func TestWriteAfterCloseFails(t *testing.T) {
	s, err := store.Open(context.Background(), storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.RecordCommit(context.Background(), "d", 0, "f") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("write after Close succeeded")
		}
	case <-time.After(30 * time.Second): // liveness bound, not a speed target
		t.Fatal("write after Close hangs")
	}
}

// q rewrites ? placeholders for PostgreSQL.
func q(s *store.Store, query string) string {
	if s.Dialect != store.Postgres {
		return query
	}
	out, n := []byte{}, 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, query[i])
	}
	return string(out)
}
