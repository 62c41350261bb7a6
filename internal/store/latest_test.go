package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestDecidersSeeEachOthersDelivery: two transactions judging the same
// asset × partner at once (two deciders) must not both find "no delivery"
// and both insert one. The second reads after the first commits: on
// PostgreSQL through the pair's lock, on SQLite because writes are one at
// a time. On the old code PostgreSQL's second read found nothing and the
// pair got two create deliveries.
func TestDecidersSeeEachOthersDelivery(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			s := storetest.Open(t, cfg)
			ctx := context.Background()
			read, inserted := make(chan struct{}), make(chan error, 1)
			go func() {
				defer func() {
					select {
					case <-read:
					default:
						close(read) // failed before reading: the test reports it
					}
				}()
				inserted <- s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
					_, err := s.LatestDelivery(ctx, tx, "ep-1", "acme")
					if !errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("first decider: %v", err)
					}
					close(read)
					time.Sleep(300 * time.Millisecond) // the other decider arrives meanwhile
					now := time.Now().UTC()
					return s.InsertDelivery(ctx, tx, domain.Delivery{ID: "d1", AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme",
						Action: domain.ActionCreate, Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now})
				})
			}()
			<-read
			var found domain.Delivery
			err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				var err error
				found, err = s.LatestDelivery(ctx, tx, "ep-1", "acme")
				return err
			})
			if err := <-inserted; err != nil {
				t.Fatal(err)
			}
			if err != nil || found.ID != "d1" {
				t.Fatalf("second decider read %q, %v; want the first one's delivery d1", found.ID, err)
			}
		})
	}
}
