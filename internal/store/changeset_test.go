package store_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestChangeSet stores a delivery's scope and changed fields and reads
// them back; a delivery without them reads back without them.
func TestChangeSet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		d := domain.Delivery{ID: "d1", AssetID: "ep-1", AssetVersion: 2, PartnerID: "acme", Action: domain.ActionUpdate,
			Scope: domain.ScopeMetadata, Changes: []domain.Change{{Kind: domain.ChangeMetadata, Field: "metadata.synopsis", Old: "a", New: "b"},
				{Kind: domain.ChangeMetadata, Field: "metadata.genres", New: []any{"drama"}}},
			Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
		plain := d
		plain.ID, plain.Scope, plain.Changes = "d2", "", nil
		if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := s.InsertDelivery(ctx, tx, d); err != nil {
				return err
			}
			return s.InsertDelivery(ctx, tx, plain)
		}); err != nil {
			t.Fatal(err)
		}
		// An update of the row keeps the change set.
		if _, err := s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error { return d.Transition(domain.StatusPackaging, now) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDelivery(ctx, "d1")
		if err != nil || got.Scope != domain.ScopeMetadata || !reflect.DeepEqual(got.Changes, d.Changes) || !got.MetadataOnly() {
			t.Fatalf("got %+v %v", got, err)
		}
		if got, _ := s.GetDelivery(ctx, "d2"); got.Scope != "" || got.Changes != nil {
			t.Fatalf("plain delivery: %+v", got)
		}
		// A corrupt column is an error naming the delivery, not a silent empty set.
		if _, err := s.DB.ExecContext(ctx, `UPDATE syn_deliveries SET change_set = '{' WHERE id = 'd2'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDelivery(ctx, "d2"); err == nil {
			t.Fatal("corrupt change set read without error")
		}
	})
}

// TestChangeSetMigration upgrades a database whose deliveries predate
// migration 13: they get an empty change set.
func TestChangeSetMigration(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			old := storetest.Open(t, cfg)
			// Back to migration 12: 13 added change_set, 14 file_state and
			// the commits' verified.
			for _, q := range []string{`ALTER TABLE syn_deliveries DROP COLUMN change_set`, `ALTER TABLE syn_deliveries DROP COLUMN file_state`,
				`ALTER TABLE syn_delivery_commits DROP COLUMN verified`, `DELETE FROM syn_migrations WHERE version >= 13`,
				`INSERT INTO syn_deliveries (id, asset_id, asset_version, partner_id, action, status, created_at, updated_at)
				 VALUES ('old', 'ep-1', 1, 'acme', 'create', 'delivered', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`} {
				if _, err := old.DB.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			old.Close()
			s := storetest.Open(t, cfg)
			d, err := s.GetDelivery(ctx, "old")
			if err != nil || d.Scope != "" || d.Changes != nil || d.Action != domain.ActionCreate || d.VerifiedFiles != nil || d.ResumeRefused != nil {
				t.Fatalf("old delivery after migration: %+v %v", d, err)
			}
			var v int
			if err := s.DB.QueryRowContext(ctx, `SELECT MAX(version) FROM syn_migrations`).Scan(&v); err != nil || v < 14 {
				t.Fatalf("migrations at %d %v", v, err)
			}
		})
	}
}
