package json_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	_ "github.com/syndicate-media/syndicate/internal/format/json"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGolden(t *testing.T) {
	f, err := format.Get("json")
	if err != nil {
		t.Fatal(err)
	}
	a := domain.Asset{ID: "ep-101", Type: "episode", Title: "Pilot",
		Metadata: map[string]any{"season": 1, "genres": []any{"drama"}, "synopsis": "It begins."}}
	files := []domain.ManifestFile{{Name: "main.mp4", Role: "main", Size: 4194304}, {Name: "images/cover.png", Role: "cover", Size: 2048}}
	got, err := f.Render(a, files)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "episode.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("render differs from %s (run with -update to accept):\n%s", golden, got)
	}
	if name := f.FileName(a); name != "metadata.json" {
		t.Fatalf("FileName = %q", name)
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := format.Get("adi99"); err == nil {
		t.Fatal("unknown format accepted")
	}
}
