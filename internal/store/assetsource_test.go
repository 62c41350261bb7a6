package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/store"
)

func TestPutAssetVersion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.PutAssetVersion(ctx, asset("Pilot"), 7); err != nil {
			t.Fatal(err)
		}
		if err := s.PutAssetVersion(ctx, asset("Pilot"), 7); err != nil {
			t.Fatalf("same content, same version again: %v", err)
		}
		err := s.PutAssetVersion(ctx, asset("Pilot (recut)"), 7)
		if !errors.Is(err, store.ErrVersionConflict) || !strings.Contains(err.Error(), `asset "ep-1" version 7`) {
			t.Fatalf("other content under version 7: %v", err)
		}
		if err := s.PutAssetVersion(ctx, asset("Pilot (recut)"), 9); err != nil {
			t.Fatal(err)
		}
		// An older revision arriving late is kept as a snapshot but does
		// not become the newest version.
		if err := s.PutAssetVersion(ctx, asset("Pilot (early cut)"), 8); err != nil {
			t.Fatal(err)
		}
		a, v, err := s.GetAsset(ctx, "ep-1")
		if err != nil || v != 9 || a.Title != "Pilot (recut)" {
			t.Fatalf("GetAsset = %q v%d %v, want the recut at 9", a.Title, v, err)
		}
		for v, title := range map[int]string{7: "Pilot", 8: "Pilot (early cut)", 9: "Pilot (recut)"} {
			if old, err := s.GetAssetVersion(ctx, "ep-1", v); err != nil || old.Title != title {
				t.Errorf("snapshot v%d = %q %v, want %q", v, old.Title, err, title)
			}
		}
		if err := s.PutAssetVersion(ctx, asset("x"), 0); err == nil || !strings.Contains(err.Error(), "version 0") {
			t.Fatalf("version 0: %v", err)
		}
	})
}
