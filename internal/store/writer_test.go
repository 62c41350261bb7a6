package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
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
			now := time.Now().UTC()
			delivery := func(id string) domain.Delivery {
				return domain.Delivery{ID: id, AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme", Action: domain.ActionCreate,
					Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
			}
			if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, delivery("taken")) }); err != nil {
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
							if err := s.InsertDelivery(ctx, tx, delivery(id)); err != nil {
								return err
							}
							return boom
						})
					case 2: // writes, then a statement fails (duplicate key)
						errs[i] = s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
							if err := s.InsertDelivery(ctx, tx, delivery(id)); err != nil {
								return err
							}
							return s.InsertDelivery(ctx, tx, delivery("taken"))
						})
					}
				}()
			}
			time.Sleep(200 * time.Millisecond) // let them queue (not a timing assertion: any order passes)
			close(hold)
			wg.Wait()
			for i, err := range errs {
				id := fmt.Sprintf("d-%d", i)
				var stored bool
				if i%3 == 0 {
					how, rerr := s.CommitVerifications(ctx, id, 0)
					if rerr != nil {
						t.Fatal(rerr)
					}
					_, stored = how["f"]
				} else {
					_, rerr := s.GetDelivery(ctx, id)
					if rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
						t.Fatal(rerr)
					}
					stored = rerr == nil
				}
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
