package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestNoPoolQueryInsideTx: inside InTx the store refuses a query on the
// pool and a nested transaction (issue 14's freeze came from one), and the
// transaction's own variant works.
func TestNoPoolQueryInsideTx(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			s := storetest.Open(t, cfg)
			ctx := context.Background()
			if _, _, err := s.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot"}); err != nil {
				t.Fatal(err)
			}
			err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if !store.InTransaction(ctx) {
					t.Error("ctx not marked")
				}
				if _, err := s.GetAssetVersion(ctx, "ep-1", 1); !errors.Is(err, store.ErrQueryOutsideTx) {
					t.Errorf("pool read inside tx: %v", err)
				}
				if err := s.RecordCommit(ctx, "d-1", 0, "f"); !errors.Is(err, store.ErrQueryOutsideTx) {
					t.Errorf("pool write inside tx: %v", err)
				}
				if err := s.InTx(ctx, func(context.Context, *sql.Tx) error { return nil }); !errors.Is(err, store.ErrQueryOutsideTx) {
					t.Errorf("nested tx: %v", err)
				}
				a, err := s.GetAssetVersionTx(ctx, tx, "ep-1", 1)
				if err != nil || a.Title != "Pilot" {
					t.Errorf("in tx: %+v %v", a, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetAssetVersion(ctx, "ep-1", 1); err != nil {
				t.Fatalf("after tx: %v", err)
			}
		})
	}
}
