package packaging_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
)

func TestTakedownPlan(t *testing.T) {
	// The media does not exist: a takedown reads no source.
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: []domain.MediaFile{{Role: "main", URI: "/gone/main.mp4"}}}
	work := filepath.Join(t.TempDir(), "d-1")
	plan, err := packaging.Takedown(work, a, partner)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Files) != 1 || plan.Files[0].Name != "metadata.json" || plan.Files[0].Role != "metadata" {
		t.Fatalf("plan %+v", plan)
	}
	b, err := os.ReadFile(plan.Files[0].Source)
	if err != nil || !strings.Contains(string(b), `"action": "takedown"`) || int64(len(b)) != plan.Files[0].Size {
		t.Fatalf("document %s %v", b, err)
	}
	_, err = packaging.Takedown(work, a, domain.Partner{ID: "x", Format: "nope"})
	if !errors.Is(err, packaging.ErrInvalidPackage) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestMetadataOnlyPlan(t *testing.T) {
	src := t.TempDir()
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Media:  []domain.MediaFile{{Role: "main", URI: write(t, src, "m.mp4", 10)}},
		Images: []domain.Image{{Role: "cover", URI: write(t, src, "c.png", 5)}}}
	full, err := packaging.Build(filepath.Join(t.TempDir(), "d"), a, partner)
	if err != nil {
		t.Fatal(err)
	}
	only := full.MetadataOnly()
	if len(full.Files) != 3 || len(only.Files) != 1 || only.Files[0] != full.Files[2] {
		t.Fatalf("full %+v, metadata only %+v", full, only)
	}
	doc, _ := os.ReadFile(only.Files[0].Source)
	if !strings.Contains(string(doc), `"main.mp4"`) || !strings.Contains(string(doc), `"images/cover.png"`) {
		t.Fatalf("the metadata still describes the files: %s", doc)
	}
}
