package store_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// TestFileState stores how each file was verified and the files whose
// resume was refused, keeps them across other updates, and records how
// committed files were verified, and forgets a commit.
func TestFileState(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		d := domain.Delivery{ID: "d1", AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme", Action: domain.ActionCreate,
			Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, d) }); err != nil {
			t.Fatal(err)
		}
		files := []domain.VerifiedFile{{Name: "main.mxf", Size: 10, SHA256: "ab", Verified: "seam read back"},
			{Name: "manifest.json", Size: 2, SHA256: "cd", Verified: "size"}}
		if _, err := s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error {
			d.VerifiedFiles, d.ResumeRefused = files, []string{"ep-1/main.mxf"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateDelivery(ctx, "d1", func(d *domain.Delivery) error { d.Bytes = 5; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDelivery(ctx, "d1")
		if err != nil || !reflect.DeepEqual(got.VerifiedFiles, files) || !reflect.DeepEqual(got.ResumeRefused, []string{"ep-1/main.mxf"}) {
			t.Fatalf("file state read back: %+v %q %v", got.VerifiedFiles, got.ResumeRefused, err)
		}

		for _, n := range []string{"ep-1/a", "ep-1/b"} {
			if err := s.RecordCommit(ctx, "d1", 0, n); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordVerification(ctx, "d1", 0, "ep-1/a", "size"); err != nil {
			t.Fatal(err)
		}
		if err := s.ForgetCommit(ctx, "d1", 0, "ep-1/b"); err != nil {
			t.Fatal(err)
		}
		how, err := s.CommitVerifications(ctx, "d1", 0)
		if err != nil || !reflect.DeepEqual(how, map[string]string{"ep-1/a": "size"}) {
			t.Fatalf("commit verifications = %v, %v", how, err)
		}
	})
}
